import XCTest
@testable import Runtime
import Graph
import Spec

/// `parseSweepValues`: exact decimal ranges and lists for `cnnc sweep --dropout`.
final class SweepValuesTests: XCTestCase {
    func descriptions(_ text: String, file: StaticString = #filePath, line: UInt = #line) throws -> [String] {
        try parseSweepValues(text).map(\.description)
    }

    /// The error a bad value throws, as text; fails when nothing is thrown or the type is wrong.
    func errorText(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> String? {
        do {
            let values = try parseSweepValues(text)
            XCTFail("'\(text)' parsed as \(values) instead of failing", file: file, line: line)
            return nil
        } catch let error as SweepValueError {
            XCTAssertFalse(error.description.isEmpty, "empty message for '\(text)'", file: file, line: line)
            return error.description
        } catch {
            XCTFail("'\(text)' threw \(type(of: error)), not SweepValueError: \(error)", file: file, line: line)
            return nil
        }
    }

    func assertFails(_ text: String, mentioning fragments: [String], file: StaticString = #filePath, line: UInt = #line) {
        guard let message = errorText(text, file: file, line: line) else { return }
        for fragment in fragments {
            XCTAssertTrue(message.contains(fragment), "error for '\(text)' is '\(message)', which does not mention '\(fragment)'",
                          file: file, line: line)
        }
    }

    // MARK: - Ranges

    func testTenthsRangeIsExactAndKeepsItsEndpoint() throws {
        let values = try parseSweepValues("0:0.9:0.1")
        XCTAssertEqual(values.count, 10)
        XCTAssertEqual(values.map(\.description), ["0", "0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9"])
        for value in values {
            // Bit-for-bit the Double the decimal names: 0.3, never 0.1 + 0.1 + 0.1.
            XCTAssertEqual(value.value, Double(value.description)!, "\(value)")
            XCTAssertEqual("\(value.value)", value.description == "0" ? "0.0" : value.description)
        }
        XCTAssertEqual(values[3].value, Double("0.3")!)
        XCTAssertNotEqual(values[3].value, 0.1 + 0.1 + 0.1, "accumulating 0.1 gives 0.30000000000000004")
        XCTAssertEqual(values.last?.value, 0.9, "the endpoint 0.9 is included")
        XCTAssertEqual(Set(values.map(\.value)).count, 10)
    }

    func testQuarterRange() throws {
        XCTAssertEqual(try descriptions("0:0.5:0.25"), ["0", "0.25", "0.5"])
        XCTAssertEqual(try parseSweepValues("0:0.5:0.25").map(\.value), [0, 0.25, 0.5])
    }

    func testRangeWithHundredthsKeepsEndpoint() throws {
        let values = try parseSweepValues("0.05:0.2:0.05")
        XCTAssertEqual(values.map(\.description), ["0.05", "0.1", "0.15", "0.2"])
        XCTAssertEqual(values.map(\.value), [0.05, 0.1, 0.15, 0.2])
    }

    func testRangeNotLandingOnStopEndsBeforeIt() throws {
        XCTAssertEqual(try descriptions("0:0.5:0.2"), ["0", "0.2", "0.4"])
    }

    func testRangeOfOneValue() throws {
        XCTAssertEqual(try descriptions("0.3:0.3:0.1"), ["0.3"])
    }

    // MARK: - Lists and single values

    func testList() throws {
        let values = try parseSweepValues("0,0.25,0.5")
        XCTAssertEqual(values.map(\.description), ["0", "0.25", "0.5"])
        XCTAssertEqual(values.map(\.value), [0, 0.25, 0.5])
    }

    func testListKeepsTheGivenOrder() throws {
        XCTAssertEqual(try descriptions("0.5,0,0.25"), ["0.5", "0", "0.25"])
    }

    func testSingleValue() throws {
        let values = try parseSweepValues("0.3")
        XCTAssertEqual(values.map(\.description), ["0.3"])
        XCTAssertEqual(values.first?.value, Double("0.3")!)
    }

    func testWhitespaceIsTolerated() throws {
        XCTAssertEqual(try descriptions("  0.3 "), ["0.3"])
        XCTAssertEqual(try descriptions("0, 0.25 ,  0.5"), ["0", "0.25", "0.5"])
        XCTAssertEqual(try descriptions(" 0:0.5:0.25 "), ["0", "0.25", "0.5"])
    }

    /// List items are trimmed, so range parts should be too: `"0 : 0.5 : 0.25"` is as clear
    /// as `"0, 0.25, 0.5"`. (Fails today: the range parts are not trimmed.)
    func testWhitespaceInsideARangeIsTolerated() throws {
        XCTAssertEqual(try descriptions("0 : 0.5 : 0.25"), ["0", "0.25", "0.5"])
    }

    func testTrailingZerosAndLeadingPointNormalize() throws {
        XCTAssertEqual(try descriptions("0.50,.25,0.000"), ["0.5", "0.25", "0"])
    }

    // MARK: - Errors

    func testZeroStep() {
        assertFails("0:0.5:0", mentioning: ["step", "positive"])
    }

    func testNegativeStep() {
        assertFails("0:0.5:-0.1", mentioning: ["step", "positive"])
    }

    func testStopBeforeStart() {
        assertFails("0.5:0.1:0.1", mentioning: ["before it starts"])
    }

    func testNonNumericRange() {
        assertFails("a:b:c", mentioning: ["'a'", "not a decimal number"])
    }

    func testRangeWithTwoParts() {
        assertFails("0:1", mentioning: ["start:stop:step"])
    }

    func testRangeWithFourParts() {
        assertFails("0:0.9:0.1:0.2", mentioning: ["start:stop:step"])
    }

    func testExponentNotation() throws {
        XCTAssertEqual(try descriptions("1e-1,2.5E-2"), ["0.1", "0.025"])
        XCTAssertEqual(try parseSweepValueList("1e-4,1e3", domain: SweepParameter.lr.domain).values.map(\.description), ["0.0001", "1000"])
        assertFails("1e", mentioning: ["not a decimal number"])
        assertFails("1e-1234", mentioning: ["not a decimal number"])
    }

    // MARK: - Log ranges

    func testLogRangeOfFourDecades() throws {
        let list = try parseSweepValueList("1e-4..1e-1*4", domain: SweepParameter.lr.domain)
        XCTAssertTrue(list.logSpaced)
        XCTAssertEqual(list.values.map(\.description), ["0.0001", "0.001", "0.01", "0.1"])
        XCTAssertEqual(list.values.map(\.value), [0.0001, 0.001, 0.01, 0.1], "each value is the decimal printed")
    }

    func testLogRangeRoundsToThreeSignificantDigits() throws {
        let list = try parseSweepValueList("0.001..0.1*5", domain: SweepParameter.lr.domain)
        // 10^-3, 10^-2.5, 10^-2, 10^-1.5, 10^-1.
        XCTAssertEqual(list.values.map(\.description), ["0.001", "0.00316", "0.01", "0.0316", "0.1"])
    }

    func testBadLogRanges() {
        for text in ["0..1*3", "1e-1..1e-4*3", "1e-4..1e-1*1", "1e-4..1e-1", "1e-4..1e-1*x", "1e-4..1e-1*100000"] {
            XCTAssertThrowsError(try parseSweepValueList(text, domain: SweepParameter.lr.domain), text)
        }
    }

    func testIntegerDomains() throws {
        XCTAssertEqual(try parseSweepValueList("16:64:16", domain: SweepParameter.batchSize.domain).values.compactMap(\.integer), [16, 32, 48, 64])
        XCTAssertThrowsError(try parseSweepValueList("16.5", domain: SweepParameter.batchSize.domain)) { error in
            XCTAssertTrue("\(error)".contains("not a whole number"), "\(error)")
        }
        XCTAssertThrowsError(try parseSweepValueList("0", domain: SweepParameter.epochs.domain))
        XCTAssertThrowsError(try parseSweepValueList("4611686018427387904", domain: SweepParameter.batchSize.domain))
    }

    /// Issue 11, defect 12: a range whose ends need more digits than fit exactly wrapped silently
    /// and trained p = 0.43946683793408. It is refused now.
    func testHugeRangeDoesNotWrap() {
        assertFails("100000000139688:100000000139688:0.00000000000001", mentioning: ["significant digits"])
        assertFails("0:0.9:0.00000000000000001", mentioning: ["significant digits"])
        assertFails("9999999999999999", mentioning: ["significant digits"])
        assertFails("1e300", mentioning: ["significant digits"])
    }

    func testNaNAndInfinity() {
        assertFails("nan", mentioning: ["not a decimal number"])
        assertFails("inf", mentioning: ["not a decimal number"])
    }

    func testEmpty() {
        assertFails("", mentioning: ["no values"])
        assertFails("   ", mentioning: ["no values"])
    }

    func testEmptyListItem() {
        assertFails("0,,0.5", mentioning: ["not a decimal number"])
        assertFails("0,0.5,", mentioning: ["not a decimal number"])
    }

    func testOneIsOutsideTheRange() {
        assertFails("1.0", mentioning: ["1 is outside [0, 1)"])
        assertFails("0,1", mentioning: ["outside [0, 1)"])
    }

    func testNegativeIsOutsideTheRange() {
        assertFails("-0.1", mentioning: ["-0.1 is outside [0, 1)"])
    }

    func testRangeEndingAtOneIsOutside() {
        assertFails("0:1:0.1", mentioning: ["1 is outside [0, 1)"])
    }

    func testDuplicates() {
        assertFails("0.1,0.10", mentioning: ["0.1", "listed twice"])
        assertFails("0.1,1e-1", mentioning: ["listed twice"])
        assertFails("0,0.5,0", mentioning: ["listed twice"])
    }

    func testTooManyValues() {
        assertFails("0:0.99999:0.00001", mentioning: ["10,000"])
    }

    func testOtherAllowedRange() throws {
        XCTAssertEqual(try parseSweepValues("1,2.5", allowedRange: 0..<10).map(\.value), [1, 2.5])
        XCTAssertThrowsError(try parseSweepValues("10", allowedRange: 0..<10))
    }
}
