import Foundation
import XCTest

/// `cnnc train --resume` (issue 11, part 1): a run stopped by SIGINT, SIGTERM or SIGKILL in its
/// second epoch and resumed ends with weights byte-identical to an uninterrupted run, and the
/// same metrics.jsonl but for the timing fields.
final class ResumeTests: XCTestCase {
    var scratch = ""

    override func setUpWithError() throws {
        scratch = try CLI.temporaryDirectory(prefix: "cnnc-resume")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: scratch)
    }

    static let lenet = (spec: "lenet.yaml", arguments: ["--epochs", "3", "--limit", "2000", "--threads", "2"])
    /// Ten steps an epoch: the test set's evaluation dominates, so two epochs are enough.
    static let mnist = (spec: "mnist.yaml", arguments: ["--epochs", "2", "--limit", "640", "--threads", "2"])

    /// Uninterrupted runs, once per spec and arguments: weights and metrics.
    nonisolated(unsafe) static var references: [String: (weights: [UInt8], metrics: [[String: String]])] = [:]

    func reference(_ spec: String, _ arguments: [String]) throws -> (weights: [UInt8], metrics: [[String: String]]) {
        let key = ([spec] + arguments).joined(separator: " ")
        if let cached = Self.references[key] { return cached }
        let out = scratch + "/reference"
        let result = try CLI.run(["train", CLI.example(spec), "--out", out, "--quiet"] + dataArguments() + arguments)
        XCTAssertEqual(result.status, 0, result.transcript)
        let value = (try bytes(out + "/weights.safetensors"), try metrics(out))
        Self.references[key] = value
        return value
    }

    func dataArguments() throws -> [String] {
        ["--data", try CLI.mnistDirectory(), "--no-download"]
    }

    func bytes(_ path: String) throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// metrics.jsonl without the timing fields (train_seconds, evaluation_seconds, images_per_second).
    func metrics(_ directory: String) throws -> [[String: String]] {
        let text = try String(contentsOfFile: directory + "/metrics.jsonl", encoding: .utf8)
        let timing: Set<String> = ["train_seconds", "evaluation_seconds", "images_per_second"]
        return try text.split(separator: "\n").map { line in
            try CLI.jsonObject(String(line)).filter { !timing.contains($0.key) }.mapValues { "\($0)" }
        }
    }

    /// Trains, sends `signals` once the first epoch's checkpoint exists (so in the second epoch),
    /// resumes, and compares with the uninterrupted run.
    func assertResumesExactly(_ example: (spec: String, arguments: [String]), signals: [Int32],
                              file: StaticString = #filePath, line: UInt = #line) throws {
        let expected = try reference(example.spec, example.arguments)
        let out = scratch + "/stopped"
        let process = try CLI.start(["train", CLI.example(example.spec), "--out", out] + dataArguments() + example.arguments)
        XCTAssertTrue(CLI.waitFor(out + "/checkpoint/manifest.json", while: process), "no checkpoint after epoch 1", file: file, line: line)
        usleep(100_000)
        for signal in signals {
            kill(process.processIdentifier, signal)
        }
        process.waitUntilExit()
        if signals.contains(SIGKILL) {
            XCTAssertEqual(process.terminationReason, .uncaughtSignal, file: file, line: line)
        } else {
            XCTAssertEqual(process.terminationReason, .exit, file: file, line: line)
            XCTAssertEqual(process.terminationStatus, 128 + signals[0], "exit status after signal \(signals)", file: file, line: line)
        }
        let manifest = try CLI.jsonObject(try String(contentsOfFile: out + "/checkpoint/manifest.json", encoding: .utf8))
        XCTAssertGreaterThanOrEqual(manifest["epoch"] as? Int ?? 0, 2, "stopped in epoch 2 or later: \(manifest)", file: file, line: line)

        let resumed = try CLI.run(["train", "--resume", out] + dataArguments())
        XCTAssertEqual(resumed.status, 0, resumed.transcript, file: file, line: line)
        XCTAssertTrue(resumed.stdout.contains("resuming at epoch"), resumed.transcript, file: file, line: line)
        XCTAssertEqual(try bytes(out + "/weights.safetensors"), expected.weights,
                       "weights after \(signals) and --resume differ from the uninterrupted run's", file: file, line: line)
        XCTAssertEqual(try metrics(out), expected.metrics, "metrics.jsonl differs (timing fields aside)", file: file, line: line)
        let left = try FileManager.default.contentsOfDirectory(atPath: out).filter { $0.contains(".tmp-") }
            + FileManager.default.contentsOfDirectory(atPath: out + "/checkpoint").filter { $0.contains(".tmp-") }
        XCTAssertEqual(left, [], "temporary files of a killed process are cleaned up", file: file, line: line)
    }

    func testLeNetSIGINT() throws { try assertResumesExactly(Self.lenet, signals: [SIGINT]) }
    func testLeNetSIGTERM() throws { try assertResumesExactly(Self.lenet, signals: [SIGTERM]) }
    func testLeNetSIGKILL() throws { try assertResumesExactly(Self.lenet, signals: [SIGKILL]) }
    func testMNISTSIGINT() throws { try assertResumesExactly(Self.mnist, signals: [SIGINT]) }
    func testMNISTSIGTERM() throws { try assertResumesExactly(Self.mnist, signals: [SIGTERM]) }
    func testMNISTSIGKILL() throws { try assertResumesExactly(Self.mnist, signals: [SIGKILL]) }

    /// A second Ctrl-C ends the process at once (130) and leaves a checkpoint that resumes exactly.
    func testSecondCtrlCExitsAtOnceAndCorruptsNothing() throws {
        try assertResumesExactly(Self.lenet, signals: [SIGINT, SIGINT])
    }

    // MARK: - What --resume refuses

    /// One finished epoch of LeNet in `out`.
    func oneEpoch(_ out: String, _ extra: [String] = []) throws {
        let result = try CLI.run(["train", CLI.example("lenet.yaml"), "--out", out, "--epochs", "1", "--limit", "500",
                                  "--threads", "2", "--quiet"] + dataArguments() + extra)
        XCTAssertEqual(result.status, 0, result.transcript)
    }

    func testExtendingWithEpochsEqualsALongerRun() throws {
        let out = scratch + "/extend"
        try oneEpoch(out)
        let extended = try CLI.run(["train", "--resume", out, "--epochs", "2", "--quiet"] + dataArguments())
        XCTAssertEqual(extended.status, 0, extended.transcript)
        let longer = scratch + "/longer"
        let result = try CLI.run(["train", CLI.example("lenet.yaml"), "--out", longer, "--epochs", "2", "--limit", "500",
                                  "--threads", "2", "--quiet"] + dataArguments())
        XCTAssertEqual(result.status, 0, result.transcript)
        XCTAssertEqual(try bytes(out + "/weights.safetensors"), try bytes(longer + "/weights.safetensors"))
        XCTAssertEqual(try metrics(out), try metrics(longer))
        let summary = try CLI.jsonObject(try String(contentsOfFile: out + "/summary.json", encoding: .utf8))
        XCTAssertEqual((summary["settings"] as? [String: Any])?["epochs"] as? Int, 2, "the record says what ran")
    }

    func testFlagsThatWouldChangeTheRunAreRefused() throws {
        let out = scratch + "/refuse"
        try oneEpoch(out)
        let before = try bytes(out + "/weights.safetensors")
        for flags in [["--lr", "0.1"], ["--seed", "9"], ["--threads", "1"], ["--batch-size", "64"], ["--limit", "600"],
                      ["--dropout", "0.5"], ["--val", "100"], ["--optimizer", "sgd"]] {
            let result = try CLI.run(["train", "--resume", out] + dataArguments() + flags)
            XCTAssertEqual(result.status, 2, "\(flags)\n\(result.transcript)")
            XCTAssertTrue(result.stderr.contains("would change it: \(flags[0])"), "\(flags)\n\(result.transcript)")
        }
        let same = try CLI.run(["train", "--resume", out, "--lr", "0.001", "--threads", "2", "--quiet"] + dataArguments())
        XCTAssertEqual(same.status, 0, "repeating the run's own values is fine\n\(same.transcript)")
        let otherSpec = try CLI.run(["train", CLI.example("mnist.yaml"), "--resume", out] + dataArguments())
        XCTAssertEqual(otherSpec.status, 2, otherSpec.transcript)
        XCTAssertTrue(otherSpec.stderr.contains("is not the spec the run"), otherSpec.transcript)
        XCTAssertEqual(try bytes(out + "/weights.safetensors"), before, "refusals change nothing")
    }

    func testACorruptCheckpointIsRefusedClearly() throws {
        let out = scratch + "/corrupt"
        try oneEpoch(out)
        let manifest = try CLI.jsonObject(try String(contentsOfFile: out + "/checkpoint/manifest.json", encoding: .utf8))
        let name = try XCTUnwrap(((manifest["files"] as? [Any])?.first as? [String: Any])?["name"] as? String)
        var state = try bytes(out + "/checkpoint/" + name)
        state[state.count / 2] ^= 1
        try Data(state).write(to: URL(fileURLWithPath: out + "/checkpoint/" + name))
        let result = try CLI.run(["train", "--resume", out, "--epochs", "2"] + dataArguments())
        XCTAssertEqual(result.status, 1, result.transcript)
        XCTAssertTrue(result.stderr.contains("the checkpoint is corrupt") && result.stderr.contains("SHA-256"), result.transcript)
        let missing = try CLI.run(["train", "--resume", scratch + "/nothing-here"] + dataArguments())
        XCTAssertEqual(missing.status, 1, missing.transcript)
        XCTAssertTrue(missing.stderr.contains("no checkpoint"), missing.transcript)
    }

    // MARK: - Output directories (part 2, defect 8)

    func testAnOutHoldingARunIsRefusedUnlessForced() throws {
        let out = scratch + "/taken"
        try oneEpoch(out)
        let before = try bytes(out + "/weights.safetensors")
        let again = try CLI.run(["train", CLI.example("lenet.yaml"), "--out", out, "--epochs", "1", "--limit", "300", "--quiet"]
                                + dataArguments())
        XCTAssertEqual(again.status, 2, again.transcript)
        XCTAssertTrue(again.stderr.contains("already holds a run") && again.stderr.contains("--force"), again.transcript)
        XCTAssertEqual(try bytes(out + "/weights.safetensors"), before)
        let forced = try CLI.run(["train", CLI.example("lenet.yaml"), "--out", out, "--epochs", "1", "--limit", "300",
                                  "--threads", "2", "--quiet", "--force"] + dataArguments())
        XCTAssertEqual(forced.status, 0, forced.transcript)
        XCTAssertNotEqual(try bytes(out + "/weights.safetensors"), before)
    }

    func testASecondRunInTheSameDirectoryIsRefusedWhileTheFirstRuns() throws {
        let out = scratch + "/busy"
        let first = try CLI.start(["train", CLI.example("lenet.yaml"), "--out", out, "--epochs", "50", "--threads", "1"] + dataArguments())
        defer {
            kill(first.processIdentifier, SIGKILL)
            first.waitUntilExit()
        }
        XCTAssertTrue(CLI.waitFor(out + "/.lock", while: first))
        usleep(200_000)
        let second = try CLI.run(["train", CLI.example("lenet.yaml"), "--out", out, "--force", "--quiet"] + dataArguments())
        XCTAssertEqual(second.status, 1, second.transcript)
        XCTAssertTrue(second.stderr.contains("in use by another cnnc run"), second.transcript)
    }

    // MARK: - Write errors (part 2)

    /// A full disk, simulated by a file-size limit (RLIMIT_FSIZE, with SIGXFSZ ignored so writes
    /// fail with EFBIG): the run ends with a clear message and exit 1, and the checkpoint and
    /// files of the epoch before stay intact and resumable.
    func testAFailedWriteSurfacesAndKeepsThePreviousFiles() throws {
        let out = scratch + "/full"
        try oneEpoch(out)
        let weights = try bytes(out + "/weights.safetensors")
        let manifest = try bytes(out + "/checkpoint/manifest.json")
        let binary = try CLI.binary()
        let data = try CLI.mnistDirectory()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "trap '' XFSZ; ulimit -f 64; exec \"$0\" train --resume \"$1\" --epochs 2 --data \"$2\" --no-download",
                             binary, out, data]
        let errPath = scratch + "/stderr"
        FileManager.default.createFile(atPath: errPath, contents: nil)
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        let stderr = try String(contentsOfFile: errPath, encoding: .utf8)
        XCTAssertEqual(process.terminationReason, .exit, stderr)
        XCTAssertEqual(process.terminationStatus, 1, stderr)
        XCTAssertTrue(stderr.contains("cannot write") && stderr.contains("File too large"), stderr)
        XCTAssertTrue(stderr.contains("keeps its last complete checkpoint"), stderr)
        XCTAssertEqual(try bytes(out + "/weights.safetensors"), weights)
        XCTAssertEqual(try bytes(out + "/checkpoint/manifest.json"), manifest)
        let resumed = try CLI.run(["train", "--resume", out, "--epochs", "2", "--quiet"] + dataArguments())
        XCTAssertEqual(resumed.status, 0, "the kept checkpoint still resumes\n\(resumed.transcript)")
    }
}
