import XCTest
@testable import Spec

final class YAMLParserTests: XCTestCase {
    func testBuildsTreeWithLocations() throws {
        let result = YAMLParser.parse("a: 1\nb:\n  - x\n  - 'y'\nc: {d: [1, 2]}\n")
        XCTAssertEqual(result.diagnostics, [])
        let root = try XCTUnwrap(result.root)
        XCTAssertEqual(root.location, SourceLocation(line: 1, column: 1))
        guard case .mapping(let entries) = root.value else { return XCTFail("not a mapping") }
        XCTAssertEqual(entries.map { $0.key.scalarText }, ["a", "b", "c"])
        XCTAssertEqual(entries[0].value.location, SourceLocation(line: 1, column: 4))
        guard case .sequence(let items) = entries[1].value.value else { return XCTFail("not a sequence") }
        XCTAssertEqual(items.count, 2)
        XCTAssertEqual(items[1].location, SourceLocation(line: 4, column: 5))
        guard case .scalar("x", plain: true) = items[0].value else { return XCTFail("x should be plain") }
        guard case .scalar("y", plain: false) = items[1].value else { return XCTFail("y should be quoted") }
        guard case .mapping(let inner) = entries[2].value.value,
              case .sequence(let pair) = inner[0].value.value else { return XCTFail("bad flow mapping") }
        XCTAssertEqual(pair.map(\.scalarText), ["1", "2"])
        XCTAssertEqual(pair[1].location, SourceLocation(line: 5, column: 12))
    }

    func testNullValues() throws {
        let root = try XCTUnwrap(YAMLParser.parse("a:\nb: ~\nc: null\nd: ''\n").root)
        guard case .mapping(let entries) = root.value else { return XCTFail("not a mapping") }
        XCTAssertEqual(entries.map(\.value.isNull), [true, true, true, false])
    }

    func testKeepsDuplicateKeys() throws {
        let root = try XCTUnwrap(YAMLParser.parse("a: 1\na: 2\n").root)
        guard case .mapping(let entries) = root.value else { return XCTFail("not a mapping") }
        XCTAssertEqual(entries.count, 2)
    }

    func testSyntaxErrorAtProblemMark() {
        let result = YAMLParser.parse("a: [1, 2\nb: 3\n")
        XCTAssertNil(result.root)
        XCTAssertEqual(result.diagnostics.count, 1)
        XCTAssertTrue(result.diagnostics[0].message.hasPrefix("YAML syntax error: "))
        XCTAssertNotNil(result.diagnostics[0].location)
    }

    func testAliasIsAnError() {
        let result = YAMLParser.parse("a: &x 1\nb: *x\n")
        XCTAssertNil(result.root)
        XCTAssertEqual(result.diagnostics.map(\.message), ["YAML aliases are not supported in a cnnc spec"])
        XCTAssertEqual(result.diagnostics[0].location, SourceLocation(line: 2, column: 4))
    }

    func testAnchorAloneIsIgnored() {
        XCTAssertNotNil(YAMLParser.parse("a: &x 1\n").root)
    }

    func testNestingLimit() {
        let ok = String(repeating: "[", count: 32) + String(repeating: "]", count: 32)
        XCTAssertNotNil(YAMLParser.parse(ok).root)
        let deep = String(repeating: "[", count: 33) + String(repeating: "]", count: 33)
        let result = YAMLParser.parse(deep)
        XCTAssertNil(result.root)
        XCTAssertEqual(result.diagnostics.map(\.message), ["nesting deeper than 32 levels"])
        XCTAssertEqual(result.diagnostics[0].location, SourceLocation(line: 1, column: 33))
    }

    func testSecondDocumentIsAnError() {
        let result = YAMLParser.parse("a: 1\n---\nb: 2\n")
        XCTAssertNil(result.root)
        XCTAssertEqual(result.diagnostics.count, 1)
        XCTAssertEqual(result.diagnostics[0].location?.line, 2)
    }

    func testEmptyAndCommentOnly() {
        for text in ["", "\n\n", "# only a comment\n  # another\n"] {
            let result = YAMLParser.parse(text)
            XCTAssertNil(result.root)
            XCTAssertEqual(result.diagnostics, [.error(at: nil, YAMLParser.emptyFileMessage)])
        }
    }

    func testTagsAreIgnored() throws {
        let root = try XCTUnwrap(YAMLParser.parse("a: !!str 5\n").root)
        guard case .mapping(let entries) = root.value else { return XCTFail("not a mapping") }
        XCTAssertEqual(entries[0].value.scalarText, "5")
    }

    func testControlCharacterIsReaderErrorWithLocation() {
        let result = YAMLParser.parse("a: 1\nb: \u{1}\n")
        XCTAssertNil(result.root)
        XCTAssertEqual(result.diagnostics.count, 1)
        XCTAssertEqual(result.diagnostics[0].location?.line, 2)
    }
}
