import Foundation
import XCTest
@testable import Runtime
import Graph
import Spec

/// Defect 9 of issue 11: no size from disk or network is unbounded. Gzip inflation stops at the
/// expected size, files larger than it are refused before reading, only regular files are opened
/// (a FIFO is not waited on, /dev/zero is not read forever), and a download is cut off when it
/// sends more than any MNIST file has or outlives its deadline.
final class DataLimitsTests: XCTestCase {
    private var temps: [String] = []
    private var server: Process?

    override func tearDown() {
        if let server, server.isRunning {
            server.terminate()
            server.waitUntilExit()
        }
        for t in temps { try? FileManager.default.removeItem(atPath: t) }
        temps.removeAll()
    }

    private func temp() throws -> String {
        let d = try makeTempDirectory("cnnc-limits")
        temps.append(d)
        return d
    }

    func testGzipBombStopsAtTheLimit() throws {
        let bomb = gzipCompress([UInt8](repeating: 0, count: 8 << 20))   // 8 MiB of zeros in ~8 KB
        assertThrows(try gunzip(bomb, name: "bomb.gz", limit: 1 << 20), contains: ["bomb.gz", "larger than 1048576 bytes"])
        XCTAssertEqual(try gunzip(bomb, name: "bomb.gz", limit: 8 << 20).count, 8 << 20, "exactly the limit is fine")
        let path = try temp() + "/bomb.gz"
        try writeBytes(bomb, to: path)
        assertThrows(try readMaybeGzip(path: path, limit: 1 << 20), contains: [path, "larger than"])
    }

    func testMNISTFilesAreReadUpToTheLargestMNISTFile() throws {
        XCTAssertEqual(MNISTFile.readLimit, 16 + 60000 * 784)
        let dir = try temp()
        // A bomb in the place of the test labels: refused at the limit, not inflated to the end.
        let bomb = gzipCompress([UInt8](repeating: 0, count: MNISTFile.readLimit + 1))
        try writeBytes(bomb, to: dir + "/t10k-labels-idx1-ubyte.gz")
        assertThrows(try MNISTFile.testLabels.readVerified(in: dir), contains: ["t10k-labels-idx1-ubyte.gz", "larger than"])
    }

    func testFileLargerThanTheLimitIsRefusedBeforeReading() throws {
        let path = try temp() + "/big"
        try writeBytes([UInt8](repeating: 7, count: 5000), to: path)
        assertThrows(try readFileBytes(path: path, limit: 4999), contains: [path, "larger than 4999"])
        XCTAssertEqual(try readFileBytes(path: path, limit: 5000).count, 5000)
    }

    func testFIFOIsRefusedWithoutWaitingForAWriter() throws {
        let fifo = try temp() + "/fifo"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        /// Written by the reading thread before it signals, read here after the wait.
        final class Outcome: @unchecked Sendable { var result: Result<[UInt8], Error>? }
        let done = DispatchSemaphore(value: 0)
        let outcome = Outcome()
        Thread.detachNewThread {
            outcome.result = Result { try readFileBytes(path: fifo) }
            done.signal()
        }
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success, "reading a FIFO blocked")
        guard case let .failure(error)? = outcome.result else { return XCTFail("a FIFO was read") }
        XCTAssertTrue("\(error)".contains("not a regular file"), "\(error)")
    }

    func testDevicesAreRefused() {
        assertThrows(try readFileBytes(path: "/dev/zero"), contains: ["/dev/zero", "not a regular file"])
        assertThrows(try readMaybeGzip(path: "/dev/null"), contains: ["not a regular file"])
    }

    func testEmptyAndSwappedMNISTFilesAreRecognised() throws {
        let empty = MNISTFile.trainLabels.recognise([], sha256: sha256Hex([]))
        XCTAssertEqual(empty, "the file is empty (0 bytes after decompression; expected 60008)")
        let swapped = MNISTFile.trainLabels.recognise([1, 2, 3], sha256: MNISTFile.testLabels.sha256)
        XCTAssertEqual(swapped, "its contents are 't10k-labels-idx1-ubyte' (the test labels), not the training labels: "
                       + "the files were swapped or misnamed")
        let message = "\(DataError.checksumMismatch(path: "p", expected: "e", actual: "a", contents: empty))"
        XCTAssertTrue(message.contains("the file is empty") && message.contains("cnnc download --force"), message)
        XCTAssertFalse(message.contains("--no-download"), message)
    }

    // MARK: hostile servers

    /// Starts a server whose `/endless/` sends zeros forever, `/drip/` one byte every half second,
    /// `/huge/` announces a terabyte; returns its base URL.
    private func startHostileServer() throws -> String {
        let script = """
            import http.server, sys, time
            class H(http.server.BaseHTTPRequestHandler):
                def do_GET(self):
                    self.send_response(200)
                    if self.path.startswith('/huge/'):
                        self.send_header('Content-Length', str(1 << 40))
                    self.end_headers()
                    try:
                        while True:
                            if self.path.startswith('/drip/'):
                                self.wfile.write(b'\\x1f'); self.wfile.flush(); time.sleep(0.5)
                            else:
                                self.wfile.write(bytes(65536))
                    except Exception:
                        pass
                def log_message(self, *args):
                    pass
            server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)
            print(server.server_address[1], flush=True)
            server.serve_forever()
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        server = process
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = pipe.fileHandleForReading.availableData
            if chunk.isEmpty { throw MissingServer() }
            line.append(chunk)
        }
        let port = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return "http://127.0.0.1:\(port)/"
    }

    private struct MissingServer: Error {}

    private func assertDownloadFails(from mirror: String, deadline: TimeInterval, mentions needle: String,
                                     within seconds: TimeInterval, file: StaticString = #filePath, line: UInt = #line) throws {
        let dest = try temp()
        let started = Date()
        do {
            try MNISTDownloader(mirrors: [mirror], timeout: 5, deadline: deadline).download(.testLabels, into: dest)
            XCTFail("the download succeeded", file: file, line: line)
        } catch {
            XCTAssertTrue("\(error)".contains(needle), "\(error)", file: file, line: line)
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), seconds, file: file, line: line)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dest), [], "nothing may be left behind",
                       file: file, line: line)
    }

    func testEndlessBodyIsCutOffAtTheLargestMNISTSize() throws {
        let base = try startHostileServer()
        try assertDownloadFails(from: base + "endless/", deadline: 120, mentions: "more than \(MNISTFile.readLimit) bytes",
                                within: 60)
        try assertDownloadFails(from: base + "huge/", deadline: 120, mentions: "more than", within: 30)
    }

    func testTricklingServerIsCutOffAtTheDeadline() throws {
        let base = try startHostileServer()
        try assertDownloadFails(from: base + "drip/", deadline: 2, mentions: base + "drip/", within: 15)
    }
}
