import Foundation
import XCTest
@testable import Runtime
import Graph
import Spec

/// Returns a TCP port on 127.0.0.1 that was free a moment ago (nothing listens on it afterwards).
private func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw XCTSkip("cannot create a socket") }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = 0
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw XCTSkip("cannot bind a socket") }
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
    }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
private func accepts(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = UInt16(port).bigEndian
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    } == 0
}

final class DownloadTests: XCTestCase {
    private var servers: [Process] = []
    private var temps: [String] = []
    private var realDir = ""
    /// Mirror root served over HTTP; holds `good/`, `bad/` (wrong contents), `broken/` (bad gzip), `empty/`.
    private var root = ""
    private var port = 0

    override func setUpWithError() throws {
        realDir = try realMNISTDirectory()
        root = try temp()
        for sub in ["good", "bad", "broken", "empty"] {
            try FileManager.default.createDirectory(atPath: root + "/" + sub, withIntermediateDirectories: true)
        }
        for file in MNISTFile.all {
            guard let src = file.locate(in: realDir), src.hasSuffix(".gz") else {
                throw MissingMNIST(description: "real MNIST .gz files not found in \(realDir)")
            }
            try FileManager.default.copyItem(atPath: src, toPath: root + "/good/" + file.gzipName)
        }
        port = try startServer(directory: root)
    }

    override func tearDown() {
        for p in servers where p.isRunning {
            p.terminate()
            p.waitUntilExit()
        }
        servers.removeAll()
        for t in temps { try? FileManager.default.removeItem(atPath: t) }
        temps.removeAll()
    }

    private func temp() throws -> String {
        let d = try makeTempDirectory("cnnc-download")
        temps.append(d)
        return d
    }

    private func startServer(directory: String) throws -> Int {
        let port = try freePort()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-m", "http.server", "--bind", "127.0.0.1", String(port), "--directory", directory]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { throw XCTSkip("python3 not available: \(error)") }
        servers.append(p)
        let deadline = Date().addingTimeInterval(15)
        while !accepts(port: port) {
            guard p.isRunning, Date() < deadline else { throw XCTSkip("python3 http.server did not start") }
            usleep(50_000)
        }
        return port
    }

    private func mirror(_ sub: String) -> String { "http://127.0.0.1:\(port)/\(sub)/" }

    /// Fills `bad/` with valid gzip files whose decompressed contents have bytes flipped.
    private func makeBadMirror(_ files: [MNISTFile]) throws {
        for file in files {
            var bytes = try readMaybeGzip(path: realDir + "/" + file.gzipName)
            for i in stride(from: 8, to: bytes.count, by: max(1, bytes.count / 16)) { bytes[i] ^= 0xff }
            try writeBytes(gzipCompress(bytes), to: root + "/bad/" + file.gzipName)
        }
    }

    func testDownloadAllAndLoad() throws {
        let dest = try temp() + "/nested/mnist"
        var last: [String: (Int64, Int64?)] = [:]
        let lock = NSLock()
        let downloader = MNISTDownloader(mirrors: [mirror("good")]) { file, soFar, total in
            lock.lock(); last[file] = (soFar, total); lock.unlock()
        }
        let downloaded = try downloader.downloadMissing(into: dest)
        XCTAssertEqual(downloaded, MNISTFile.all.map(\.stem))
        for file in MNISTFile.all {
            let size = try FileManager.default.attributesOfItem(atPath: realDir + "/" + file.gzipName)[.size] as? Int
            XCTAssertEqual(last[file.gzipName]?.0, size.map(Int64.init), "final progress for \(file.gzipName)")
            XCTAssertEqual(last[file.gzipName]?.1, size.map(Int64.init))
        }
        // No temporary files are left behind.
        let names = try FileManager.default.contentsOfDirectory(atPath: dest).sorted()
        XCTAssertEqual(names, MNISTFile.all.map(\.gzipName).sorted())
        let mnist = try MNIST.load(directory: dest)
        XCTAssertEqual(mnist.trainCount, 60000)
        XCTAssertEqual(mnist.testCount, 10000)
        // Everything present: nothing more to download, even with no usable mirror.
        XCTAssertEqual(try MNISTDownloader(mirrors: [mirror("empty")]).downloadMissing(into: dest), [])
    }

    func testCorruptMirrorFallsBackToGoodOne() throws {
        try makeBadMirror(MNISTFile.all)
        let dest = try temp()
        let downloaded = try MNISTDownloader(mirrors: [mirror("bad"), mirror("good")]).downloadMissing(into: dest)
        XCTAssertEqual(downloaded.count, 4)
        XCTAssertEqual(try MNIST.load(directory: dest).testCount, 10000)
    }

    func testOnlyCorruptMirrorFailsWithChecksumError() throws {
        let files = [MNISTFile.testLabels, MNISTFile.trainLabels]
        try makeBadMirror(files)
        let dest = try temp()
        assertThrows(try MNISTDownloader(mirrors: [mirror("bad")]).downloadMissing(into: dest, files: files),
                     contains: ["t10k-labels-idx1-ubyte.gz", mirror("bad"), "checksum mismatch", MNISTFile.testLabels.sha256])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dest), [], "nothing may be left behind")
    }

    func testErrorListsEveryMirrorFailure() throws {
        // broken/: gzip bytes flipped; empty/: 404; then a closed port.
        var gz = try readFileBytes(path: realDir + "/t10k-labels-idx1-ubyte.gz")
        for i in stride(from: 30, to: gz.count - 8, by: 50) { gz[i] ^= 0x55 }
        try writeBytes(gz, to: root + "/broken/t10k-labels-idx1-ubyte.gz")
        let closed = try freePort()
        let mirrors = [mirror("broken"), mirror("empty"), "http://127.0.0.1:\(closed)/"]
        do {
            try MNISTDownloader(mirrors: mirrors, timeout: 5).download(.testLabels, into: try temp())
            XCTFail("expected failure")
        } catch let DataError.downloadFailed(file, attempts) {
            XCTAssertEqual(file, "t10k-labels-idx1-ubyte.gz")
            XCTAssertEqual(attempts.map(\.mirror), mirrors)
            XCTAssertTrue(attempts[0].reason.contains("corrupt"), attempts[0].reason)
            XCTAssertTrue(attempts[1].reason.contains("HTTP 404"), attempts[1].reason)
            XCTAssertTrue(attempts[2].reason.contains("unreachable"), attempts[2].reason)
            let text = "\(DataError.downloadFailed(file: file, attempts: attempts))"
            XCTAssertTrue(text.contains("t10k-labels-idx1-ubyte.gz") && text.contains("HTTP 404"), text)
        }
    }

    func testUnreachableMirrorThenGoodOne() throws {
        let closed = try freePort()
        let dest = try temp()
        let downloader = MNISTDownloader(mirrors: ["http://127.0.0.1:\(closed)/mnist", mirror("good")], timeout: 5)
        XCTAssertEqual(try downloader.downloadMissing(into: dest).count, 4)
        XCTAssertEqual(try MNIST.load(directory: dest).trainCount, 60000)
    }

    func testResolveMirrors() {
        XCTAssertEqual(MNISTDownloader.resolveMirrors(flags: [], environment: [:]), MNISTDownloader.defaultMirrors)
        XCTAssertEqual(MNISTDownloader.resolveMirrors(flags: [], environment: ["CNNC_MNIST_MIRROR": "http://a/, http://b/"]),
                       ["http://a/", "http://b/"])
        XCTAssertEqual(MNISTDownloader.resolveMirrors(flags: ["http://c/"], environment: ["CNNC_MNIST_MIRROR": "http://a/"]),
                       ["http://c/"])
        XCTAssertEqual(MNISTDownloader(mirrors: ["http://x/y"]).mirrors, ["http://x/y/"])
        XCTAssertEqual(MNISTDownloader().mirrors.first, "https://ossci-datasets.s3.amazonaws.com/mnist/")
    }
}
