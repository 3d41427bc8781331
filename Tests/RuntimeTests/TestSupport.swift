import CZlib
import Foundation
import XCTest
@testable import Runtime

/// Directory with the real MNIST .gz files: `$CNNC_DATA`, else `../shared/data/mnist`.
func realMNISTDirectory() throws -> String {
    let env = ProcessInfo.processInfo.environment
    let dir: String
    if let d = env["CNNC_DATA"], !d.isEmpty {
        dir = d
    } else {
        dir = FileManager.default.currentDirectoryPath + "/../shared/data/mnist"
    }
    for file in MNISTFile.all where file.locate(in: dir) == nil {
        throw XCTSkip("real MNIST data not found in \(dir) (set CNNC_DATA)")
    }
    return dir
}

/// Creates a fresh temporary directory.
func makeTempDirectory(_ label: String = "cnnc-test") throws -> String {
    let path = NSTemporaryDirectory() + "/\(label)-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func writeBytes(_ bytes: [UInt8], to path: String) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

/// gzip-compresses `input` with zlib (level 1, gzip wrapper).
func gzipCompress(_ input: [UInt8], level: Int32 = 1) -> [UInt8] {
    var stream = z_stream()
    precondition(deflateInit2_(&stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY,
                               zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK)
    defer { deflateEnd(&stream) }
    var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(input.count))) + 64)
    var input = input
    let produced: Int = input.withUnsafeMutableBufferPointer { inBuf in
        output.withUnsafeMutableBufferPointer { outBuf in
            stream.next_in = inBuf.baseAddress
            stream.avail_in = uInt(inBuf.count)
            stream.next_out = outBuf.baseAddress
            stream.avail_out = uInt(outBuf.count)
            let status = deflate(&stream, Z_FINISH)
            precondition(status == Z_STREAM_END)
            return outBuf.count - Int(stream.avail_out)
        }
    }
    return Array(output[..<produced])
}

/// Asserts that `body` throws an error whose description contains every string of `fragments`.
func assertThrows<T>(_ body: @autoclosure () throws -> T, contains fragments: [String],
                     file: StaticString = #filePath, line: UInt = #line) {
    do {
        _ = try body()
        XCTFail("expected an error containing \(fragments)", file: file, line: line)
    } catch {
        let text = "\(error)"
        for f in fragments {
            XCTAssertTrue(text.contains(f), "error '\(text)' does not contain '\(f)'", file: file, line: line)
        }
    }
}
