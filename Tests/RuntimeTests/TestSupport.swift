import XCTest
@testable import Runtime

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
