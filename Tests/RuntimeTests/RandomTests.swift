import XCTest
@testable import Runtime
import Graph
import Spec

final class RandomTests: XCTestCase {
    func testSameSeedSameStream() {
        var a = SeededGenerator(seed: 42), b = SeededGenerator(seed: 42), c = SeededGenerator(seed: 43)
        let sa = (0..<100).map { _ in a.next() }
        let sb = (0..<100).map { _ in b.next() }
        let sc = (0..<100).map { _ in c.next() }
        XCTAssertEqual(sa, sb)
        XCTAssertNotEqual(sa, sc)
        XCTAssertEqual(Set(sa).count, 100)
        // Seed 0 is a valid seed (SplitMix64 never yields the all-zero state).
        var zero = SeededGenerator(seed: 0)
        XCTAssertNotEqual((0..<4).map { _ in zero.next() }, [0, 0, 0, 0])
    }

    func testDerivedStreamsDifferAndDoNotAdvanceTheParent() {
        let parent = SeededGenerator(seed: 5)
        var d1 = parent.derived(1), d1b = parent.derived(1), d2 = parent.derived(2)
        let s1 = (0..<10).map { _ in d1.next() }
        XCTAssertEqual(s1, (0..<10).map { _ in d1b.next() })
        XCTAssertNotEqual(s1, (0..<10).map { _ in d2.next() })
        var p = parent
        XCTAssertNotEqual(s1, (0..<10).map { _ in p.next() })
    }

    func testUnitFloatAndFloatRange() {
        var g = SeededGenerator(seed: 1)
        var total = 0.0
        let n = 100_000
        for _ in 0..<n {
            let u = g.nextUnitFloat()
            XCTAssertTrue(u >= 0 && u < 1)
            total += Double(u)
        }
        XCTAssertEqual(total / Double(n), 0.5, accuracy: 4 * (1.0 / 12 / Double(n)).squareRoot())
        for _ in 0..<10_000 {
            let x = g.nextFloat(in: -0.25, 0.25)
            XCTAssertTrue(x >= -0.25 && x <= 0.25)
        }
    }

    func testNextIntRangeAndUniformity() {
        var g = SeededGenerator(seed: 7)
        for bound in [1, 2, 3, 7, 10, 1000, Int(Int32.max)] {
            for _ in 0..<2000 {
                let v = g.nextInt(below: bound)
                XCTAssertTrue(v >= 0 && v < bound, "bound \(bound): \(v)")
            }
        }
        // Chi-square over 10 buckets (9 dof): p = 0.001 critical value is 27.88.
        let n = 100_000
        var counts = [Int](repeating: 0, count: 10)
        for _ in 0..<n { counts[g.nextInt(below: 10)] += 1 }
        let expected = Double(n) / 10
        let chi2 = counts.reduce(0.0) { $0 + (Double($1) - expected) * (Double($1) - expected) / expected }
        XCTAssertLessThan(chi2, 27.88, "counts \(counts)")
        // A bound that is not a power of two and large enough to show modulo bias: 3·2^62.
        let big = 3 << 61
        var low = 0
        for _ in 0..<30_000 where g.nextInt(below: big) < big / 3 { low += 1 }
        XCTAssertEqual(Double(low) / 30_000, 1.0 / 3, accuracy: 4 * (2.0 / 9 / 30_000).squareRoot())
    }

    static func shuffled(_ n: Int, seed: UInt64) -> [Int32] {
        var values = (0..<Int32(n)).map { $0 }
        var g = SeededGenerator(seed: seed)
        values.withUnsafeMutableBufferPointer { g.shuffle($0) }
        return values
    }

    func testShuffleIsADeterministicPermutation() {
        for n in [0, 1, 2, 10, 1000] {
            let a = Self.shuffled(n, seed: 3)
            XCTAssertEqual(a.sorted(), (0..<Int32(n)).map { $0 }, "n \(n)")
            XCTAssertEqual(a, Self.shuffled(n, seed: 3), "n \(n)")
        }
        XCTAssertNotEqual(Self.shuffled(1000, seed: 3), Self.shuffled(1000, seed: 4))
        XCTAssertNotEqual(Self.shuffled(1000, seed: 3), (0..<1000).map { Int32($0) })
    }

    func testShuffleIsRoughlyUniform() {
        // Every one of the 6 permutations of 3 elements shows up about equally often.
        var counts: [[Int32]: Int] = [:]
        var g = SeededGenerator(seed: 99)
        let n = 60_000
        for _ in 0..<n {
            var v: [Int32] = [0, 1, 2]
            v.withUnsafeMutableBufferPointer { g.shuffle($0) }
            counts[v, default: 0] += 1
        }
        XCTAssertEqual(counts.count, 6)
        for (perm, count) in counts {
            XCTAssertEqual(Double(count), Double(n) / 6, accuracy: 5 * (Double(n) * (1.0 / 6) * (5.0 / 6)).squareRoot(), "\(perm)")
        }
        // Position of element 0 after shuffling 10 elements is uniform.
        var positions = [Int](repeating: 0, count: 10)
        for _ in 0..<20_000 {
            var v = (0..<Int32(10)).map { $0 }
            v.withUnsafeMutableBufferPointer { g.shuffle($0) }
            positions[v.firstIndex(of: 0)!] += 1
        }
        for count in positions {
            XCTAssertEqual(Double(count), 2000, accuracy: 5 * (20_000 * 0.1 * 0.9).squareRoot())
        }
    }
}
