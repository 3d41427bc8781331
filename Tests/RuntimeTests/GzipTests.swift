import Foundation
import XCTest
@testable import Runtime
import Graph
import Spec

final class GzipTests: XCTestCase {
    private var dir = ""

    override func setUpWithError() throws {
        dir = try makeTempDirectory("cnnc-gzip")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: dir)
    }

    private func sample(_ n: Int = 100_000) -> [UInt8] {
        (0..<n).map { UInt8(truncatingIfNeeded: ($0 * 7) ^ ($0 >> 5)) }
    }

    func testPlainFileReturnedUnchanged() throws {
        let bytes = sample(1000)
        try writeBytes(bytes, to: dir + "/plain.bin")
        XCTAssertEqual(try readMaybeGzip(path: dir + "/plain.bin"), bytes)
        try writeBytes([], to: dir + "/empty.bin")
        XCTAssertEqual(try readMaybeGzip(path: dir + "/empty.bin"), [])
    }

    func testGzipCLIFile() throws {
        let bytes = sample()
        let path = dir + "/sample.bin"
        try writeBytes(bytes, to: path)
        let gzip = Process()
        gzip.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        gzip.arguments = ["gzip", "-k", "-9", path]
        do {
            try gzip.run()
        } catch {
            throw XCTSkip("gzip CLI not available: \(error)")
        }
        gzip.waitUntilExit()
        try XCTSkipUnless(gzip.terminationStatus == 0, "gzip CLI failed")
        XCTAssertEqual(try readMaybeGzip(path: path + ".gz"), bytes)
    }

    func testZlibDeflatedAndConcatenatedMembers() throws {
        let a = sample(70_000), b = Array("second member".utf8)
        try writeBytes(gzipCompress(a), to: dir + "/one.gz")
        XCTAssertEqual(try readMaybeGzip(path: dir + "/one.gz"), a)
        try writeBytes(gzipCompress(a) + gzipCompress(b), to: dir + "/two.gz")
        XCTAssertEqual(try readMaybeGzip(path: dir + "/two.gz"), a + b)
        // An empty payload compresses and decompresses to nothing.
        XCTAssertEqual(try gunzip(gzipCompress([]), name: "empty.gz"), [])
    }

    func testTruncatedGzipNamesFile() throws {
        let gz = gzipCompress(sample())
        let path = dir + "/cut.gz"
        try writeBytes(Array(gz[..<(gz.count / 2)]), to: path)
        assertThrows(try readMaybeGzip(path: path), contains: [path, "truncated"])
        // Header only.
        try writeBytes(Array(gz[..<5]), to: path)
        assertThrows(try readMaybeGzip(path: path), contains: [path])
    }

    func testCorruptGzipNamesFile() throws {
        var gz = gzipCompress(sample())
        let path = dir + "/bad.gz"
        for i in stride(from: 20, to: gz.count - 8, by: 97) { gz[i] ^= 0x5a }
        try writeBytes(gz, to: path)
        assertThrows(try readMaybeGzip(path: path), contains: [path, "not a valid gzip"])
        // CRC mismatch: flip a byte of the trailer's CRC32.
        var crc = gzipCompress(sample(1000))
        crc[crc.count - 6] ^= 0xff
        try writeBytes(crc, to: path)
        assertThrows(try readMaybeGzip(path: path), contains: [path])
    }

    func testTrailingGarbageRejected() throws {
        let path = dir + "/garbage.gz"
        try writeBytes(gzipCompress(sample(1000)) + [1, 2, 3], to: path)
        assertThrows(try readMaybeGzip(path: path), contains: [path, "trailing garbage"])
    }

    func testMissingFileNamesPath() {
        let path = dir + "/does-not-exist.gz"
        assertThrows(try readMaybeGzip(path: path), contains: [path])
    }
}
