import Foundation
#if canImport(Glibc)
import Glibc
#endif
import XCTest

/// Regression tests for the defects of issue 11 found by trying cnnc as a hostile user would:
/// sizes from outside that overflowed the planner (defect 2), plans larger than the machine's
/// memory (3), FIFOs and devices as inputs (9), corrupt data files (13) and a download that fails
/// while writing (11). Each must end in a message and the documented exit code, never a trap
/// (exit 132/134) or a hang.
final class HardeningTests: XCTestCase {
    private var temps: [String] = []

    override func tearDown() {
        for t in temps { try? FileManager.default.removeItem(atPath: t) }
        temps.removeAll()
    }

    private func temp() throws -> String {
        let d = try CLI.temporaryDirectory(prefix: "cnnc-hardening")
        temps.append(d)
        return d
    }

    private func assertExit(_ result: CLIResult, _ status: Int32, mentions needles: [String],
                            file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(result.status, status, result.transcript, file: file, line: line)
        for needle in needles {
            XCTAssertTrue((result.stdout + result.stderr).contains(needle), "missing '\(needle)' in\n\(result.transcript)",
                          file: file, line: line)
        }
    }

    // MARK: defect 2: overflow is a diagnostic

    func testHugeSpecBatchSizeIsAnErrorNotATrap() throws {
        let dir = try temp()
        for batch in ["4611686018427387904", "9223372036854775807"] {
            let spec = try CLI.write("""
                name: huge
                input: [1, 28, 28]
                layers:
                  - Conv2D: {out_channels: 8, kernel_size: 3}
                  - Linear: {out_features: 10}
                train: {batch_size: \(batch)}
                """, named: "huge-\(batch).yaml", in: dir)
            assertExit(try CLI.run(["check", spec]), 1, mentions: ["batch size \(batch) is outside 1...16777216"])
            assertExit(try CLI.run(["bench", spec, "--steps", "1"]), 1, mentions: ["batch size \(batch)"])
        }
    }

    func testHugeBatchAndThreadFlagsAreMisuse() throws {
        let lenet = CLI.example("lenet.yaml")
        for flags in [["--batch-size", "4611686018427387904"], ["--batch-size", "10000000000000"],
                      ["--threads", "4611686018427387904"]] {
            assertExit(try CLI.run(["check", lenet] + flags), 2, mentions: ["must be at most"])
            assertExit(try CLI.run(["bench", lenet, "--steps", "1"] + flags), 2, mentions: ["must be at most"])
            assertExit(try CLI.run(["train", lenet, "--data", "/nonexistent", "--no-download"] + flags), 2,
                       mentions: ["must be at most"])
        }
    }

    // MARK: defect 3: memory checked before allocating

    func testPlanLargerThanMemoryIsRefusedBeforeAllocating() throws {
        let lenet = CLI.example("lenet.yaml")
        let out = try temp() + "/run"
        // 1,000,000 images per step: about 48 GiB, more than any test machine has (the message
        // gives both numbers). Refused before MNIST is even looked for.
        let train = try CLI.run(["train", lenet, "--batch-size", "1000000", "--limit", "200", "--data", "/nonexistent",
                                 "--no-download", "--out", out])
        assertExit(train, 1, mentions: ["the run needs", "GiB", "but this machine has", "--batch-size"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: out), "nothing is written for a refused run")
        assertExit(try CLI.run(["bench", CLI.example("mnist.yaml"), "--batch-size", "100000", "--steps", "1"]), 1,
                   mentions: ["the run needs", "but this machine has"])
        // check prints the plan and warns.
        let check = try CLI.run(["check", lenet, "--batch-size", "1000000"])
        assertExit(check, 0, mentions: ["warning: the run needs", "will refuse this plan", "training arena"])
    }

    // MARK: defect 9: only regular files are read

    func testFIFOAndDeviceAsSpecAreRefusedAtOnce() throws {
        let fifo = try temp() + "/spec.yaml"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        let result = try CLI.run(["check", fifo])
        assertExit(result, 1, mentions: ["not a regular file"])
        XCTAssertLessThan(result.seconds, 10, "a FIFO must not be waited on")
        assertExit(try CLI.run(["check", "/dev/zero"]), 1, mentions: ["not a regular file"])
    }

    func testFIFOAndDevZeroAsDataFilesAreRefusedAtOnce() throws {
        let lenet = CLI.example("lenet.yaml")
        let data = try temp()
        let real = try CLI.mnistDirectory()
        for stem in ["train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"] {
            try FileManager.default.copyItem(atPath: "\(real)/\(stem).gz", toPath: "\(data)/\(stem).gz")
        }
        XCTAssertEqual(mkfifo("\(data)/train-images-idx3-ubyte", 0o600), 0)
        let result = try CLI.run(["train", lenet, "--limit", "64", "--epochs", "1", "--data", data, "--no-download",
                                  "--out", try temp() + "/run"])
        assertExit(result, 1, mentions: ["train-images-idx3-ubyte", "not a regular file"])
        XCTAssertLessThan(result.seconds, 20, "a FIFO must not be waited on")
        try FileManager.default.removeItem(atPath: "\(data)/train-images-idx3-ubyte")
        try FileManager.default.createSymbolicLink(atPath: "\(data)/train-images-idx3-ubyte", withDestinationPath: "/dev/zero")
        assertExit(try CLI.run(["train", lenet, "--limit", "64", "--epochs", "1", "--data", data, "--no-download",
                                "--out", try temp() + "/run"]), 1, mentions: ["not a regular file"])
    }

    // MARK: defect 13: corrupt present files

    func testCorruptPresentFilesSayWhatTheyAreAndHowToReplaceThem() throws {
        let lenet = CLI.example("lenet.yaml")
        let real = try CLI.mnistDirectory()
        let data = try temp()
        for stem in ["train-images-idx3-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"] {
            try FileManager.default.copyItem(atPath: "\(real)/\(stem).gz", toPath: "\(data)/\(stem).gz")
        }
        // A train/test swap: the test labels under the training labels' name.
        try FileManager.default.copyItem(atPath: "\(real)/t10k-labels-idx1-ubyte.gz", toPath: "\(data)/train-labels-idx1-ubyte.gz")
        var result = try CLI.run(["train", lenet, "--limit", "64", "--data", data, "--no-download", "--out", try temp() + "/r"])
        assertExit(result, 1, mentions: ["its contents are 't10k-labels-idx1-ubyte' (the test labels)", "cnnc download --force"])
        XCTAssertFalse(result.stderr.contains("drop --no-download"), result.transcript)
        // An empty file.
        try FileManager.default.removeItem(atPath: "\(data)/train-labels-idx1-ubyte.gz")
        FileManager.default.createFile(atPath: "\(data)/train-labels-idx1-ubyte", contents: Data())
        result = try CLI.run(["train", lenet, "--limit", "64", "--data", data, "--no-download", "--out", try temp() + "/r"])
        assertExit(result, 1, mentions: ["the file is empty", "cnnc download --force"])
        XCTAssertFalse(result.stderr.contains("drop --no-download"), result.transcript)
        // A missing file still suggests downloading.
        try FileManager.default.removeItem(atPath: "\(data)/train-labels-idx1-ubyte")
        result = try CLI.run(["train", lenet, "--limit", "64", "--data", data, "--no-download", "--out", try temp() + "/r"])
        assertExit(result, 1, mentions: ["not found", "drop --no-download"])
    }

    func testDownloadForceReplacesACorruptFile() throws {
        let real = try CLI.mnistDirectory()
        let mirror = try temp()
        let data = try temp()
        for stem in ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"] {
            try FileManager.default.copyItem(atPath: "\(real)/\(stem).gz", toPath: "\(mirror)/\(stem).gz")
            try FileManager.default.copyItem(atPath: "\(real)/\(stem).gz", toPath: "\(data)/\(stem).gz")
        }
        // The test labels swapped in for the training labels: `download` alone only verifies.
        try FileManager.default.removeItem(atPath: "\(data)/train-labels-idx1-ubyte.gz")
        try FileManager.default.copyItem(atPath: "\(real)/t10k-labels-idx1-ubyte.gz", toPath: "\(data)/train-labels-idx1-ubyte.gz")
        let server = try HTTPServer(directory: mirror)
        defer { server.stop() }
        assertExit(try CLI.run(["download", "--data", data, "--mirror", server.url]), 1,
                   mentions: ["checksum mismatch", "cnnc download --force"])
        assertExit(try CLI.run(["download", "--force", "--data", data, "--mirror", server.url]), 0,
                   mentions: ["MNIST ready", "checksums verified"])
    }

    // MARK: defect 11: a failed download leaves nothing behind

    func testDownloadFailingWhileWritingLeavesNoTempFileAndNamesTheTarget() throws {
        let real = try CLI.mnistDirectory()
        let mirror = try temp()
        for stem in ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"] {
            try FileManager.default.copyItem(atPath: "\(real)/\(stem).gz", toPath: "\(mirror)/\(stem).gz")
        }
        let server = try HTTPServer(directory: mirror)
        defer { server.stop() }
        let data = try temp()
        // A 4 KiB file-size limit (ulimit -f 4, SIGXFSZ ignored) makes the write fail like a full disk.
        let binary = try CLI.binary()
        let result = try shell("trap '' XFSZ; ulimit -f 4; exec '\(binary)' download --data '\(data)' --mirror \(server.url)")
        XCTAssertEqual(result.status, 1, result.transcript)
        XCTAssertTrue(result.stderr.contains("cannot write '\(data)/"), result.transcript)
        XCTAssertFalse(result.stderr.contains(".download-"), "the error names the target, not the temp file:\n\(result.transcript)")
        let left = try FileManager.default.contentsOfDirectory(atPath: data)
        XCTAssertTrue(left.allSatisfy { !$0.contains(".download-") }, "temporary files left: \(left)")
    }
}

/// Runs a bash command line, capturing both streams through files.
func shell(_ command: String) throws -> CLIResult {
    let scratch = try CLI.temporaryDirectory(prefix: "cnnc-shell")
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    _ = FileManager.default.createFile(atPath: scratch + "/out", contents: nil)
    _ = FileManager.default.createFile(atPath: scratch + "/err", contents: nil)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/bash")
    process.arguments = ["-c", command]
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: scratch + "/out"))
    process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: scratch + "/err"))
    let started = Date()
    try process.run()
    process.waitUntilExit()
    return CLIResult(status: process.terminationStatus,
                     stdout: (try? String(contentsOfFile: scratch + "/out", encoding: .utf8)) ?? "",
                     stderr: (try? String(contentsOfFile: scratch + "/err", encoding: .utf8)) ?? "",
                     seconds: Date().timeIntervalSince(started))
}

/// Whether something listens on 127.0.0.1:`port` (a plain TCP connect; cnnc's tests do not link
/// FoundationNetworking).
private func acceptsConnections(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    } == 0
}

/// `python3 -m http.server` on 127.0.0.1 for one directory.
final class HTTPServer {
    let process = Process()
    let port: Int

    var url: String { "http://127.0.0.1:\(port)/" }

    init(directory: String) throws {
        port = Int.random(in: 20000...60000)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-m", "http.server", "--bind", "127.0.0.1", String(port), "--directory", directory]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            if acceptsConnections(port: port) { return }
            usleep(100_000)
        }
        stop()
        throw CLIError("python3 http.server did not start on port \(port)")
    }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }
}
