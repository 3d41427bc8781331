import CZlib
import Foundation
import XCTest
@testable import Runtime
import Graph
import Spec

/// MNIST is missing: tests that need it fail (never skip), so a run without data cannot pass.
struct MissingMNIST: Error, CustomStringConvertible {
    var description: String
}

/// Directory with the real MNIST .gz files: `$CNNC_DATA`, else `../shared/data/mnist`; throws
/// ``MissingMNIST`` (the test fails) when a file is absent.
func realMNISTDirectory() throws -> String {
    let env = ProcessInfo.processInfo.environment
    let dir: String
    if let d = env["CNNC_DATA"], !d.isEmpty {
        dir = d
    } else {
        dir = FileManager.default.currentDirectoryPath + "/../shared/data/mnist"
    }
    for file in MNISTFile.all where file.locate(in: dir) == nil {
        throw MissingMNIST(description: "real MNIST data not found in \(dir) (set CNNC_DATA); tests that need it fail")
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


/// Shared helpers for the kernel tests: seeded random data and tolerant comparisons.

func randomFloats(_ count: Int, seed: UInt64, _ low: Float = -1, _ high: Float = 1) -> [Float] {
    var generator = SeededGenerator(seed: seed)
    return (0..<count).map { _ in generator.nextFloat(in: low, high) }
}

/// |a − e| ≤ rtol·max(|a|, |e|) + atol, element by element, with the first failures named.
func assertClose(_ actual: [Float], _ expected: [Double], rtol: Double = 1e-4, atol: Double = 1e-5,
                 _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.count, expected.count, "size mismatch \(message)", file: file, line: line)
    var failures = 0
    for i in 0..<min(actual.count, expected.count) {
        let a = Double(actual[i])
        let e = expected[i]
        let ok = abs(a - e) <= rtol * max(abs(a), abs(e)) + atol
        if !ok {
            failures += 1
            if failures <= 5 {
                XCTFail("\(message) [\(i)]: got \(a), expected \(e)", file: file, line: line)
            }
        }
    }
    if failures > 5 {
        XCTFail("\(message): \(failures) mismatches in all", file: file, line: line)
    }
}

func assertClose(_ actual: [Float], _ expected: [Float], rtol: Double = 1e-4, atol: Double = 1e-5,
                 _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
    assertClose(actual, expected.map(Double.init), rtol: rtol, atol: atol, message, file: file, line: line)
}

/// Whether a finite difference agrees with an analytic derivative.
func gradientsAgree(analytic: Double, numeric: Double, rtol: Double, atol: Double) -> Bool {
    abs(analytic - numeric) <= rtol * max(abs(analytic), abs(numeric)) + atol
}

/// Σ a·b in Double.
func dot(_ a: [Float], _ b: [Float]) -> Double {
    precondition(a.count == b.count)
    var total = 0.0
    for i in a.indices { total += Double(a[i]) * Double(b[i]) }
    return total
}

/// `count` distinct indices in 0..<n (all of them when count ≥ n), deterministic for a seed.
func sampleIndices(_ n: Int, count: Int, seed: UInt64) -> [Int] {
    guard count < n else { return Array(0..<n) }
    var generator = SeededGenerator(seed: seed)
    var all = Array(0..<n)
    for i in 0..<count {
        let j = i + generator.nextInt(below: n - i)
        all.swapAt(i, j)
    }
    return Array(all[0..<count])
}
