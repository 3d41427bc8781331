import Foundation
import XCTest
@testable import Spec

/// Issue 11, defects 4 and 10: YAML readings that YAML 1.1 and 1.2 tools disagree on are refused,
/// tabs and indentation are explained in words, and large specs are processed in linear time.
final class YAMLReadingsTests: XCTestCase {
    func testLeadingZerosAreRefused() throws {
        let text = "layers:\n  - Conv2D: {out_channels: 010, kernel_size: 3}\n  - Linear: {out_features: 10}\ntrain: {epochs: 007, seed: 0}\n"
        XCTAssertEqual(rendered(text), """
        model.yaml:2:28: error: 'out_channels' has a leading zero: 010
          - Conv2D: {out_channels: 010, kernel_size: 3}
                                   ^
        hint: YAML 1.1 tools such as PyYAML read 010 as an octal number, YAML 1.2 tools as decimal; write 10
        model.yaml:4:17: error: 'epochs' has a leading zero: 007
        train: {epochs: 007, seed: 0}
                        ^
        hint: YAML 1.1 tools such as PyYAML read 007 as an octal number, YAML 1.2 tools as decimal; write 7

        """)
        let fix = try XCTUnwrap(parsed(text).diagnostics.first?.fixes.first)
        XCTAssertEqual(fix.edits, [TextEdit(range: SourceRange(start: SourceLocation(line: 2, column: 28),
                                                               end: SourceLocation(line: 2, column: 31)), replacement: "10")])
        XCTAssertEqual(SpecDecoder.withoutLeadingZeros("-007"), "-7")
        XCTAssertEqual(SpecDecoder.withoutLeadingZeros("00"), "0")
        XCTAssertNil(SpecDecoder.withoutLeadingZeros("0"))
        XCTAssertNil(SpecDecoder.withoutLeadingZeros("10"))
        XCTAssertFalse(parsed("layers:\n  - Dropout: {p: 0.05}\n  - Linear: {out_features: 10}\n").hasErrors,
                       "a decimal fraction's leading zero is fine")
    }

    func testTagsAreRefused() throws {
        let text = "layers:\n  - Conv2D: {out_channels: 8, kernel_size: !!str 3}\n  - Linear: {out_features: !!null 10}\n"
        XCTAssertEqual(rendered(text), """
        model.yaml:2:44: error: YAML tags such as '!!str' are not allowed in a cnnc spec
          - Conv2D: {out_channels: 8, kernel_size: !!str 3}
                                                   ^
        hint: delete '!!str'; cnnc reads each value as its key's type
        model.yaml:3:28: error: YAML tags such as '!!null' are not allowed in a cnnc spec
          - Linear: {out_features: !!null 10}
                                   ^
        hint: delete '!!null'; cnnc reads each value as its key's type

        """)
        XCTAssertNil(parsed(text).spec)
        let fix = try XCTUnwrap(parsed(text).diagnostics.first?.fixes.first)
        XCTAssertEqual(fix.edits.first?.range, SourceRange(start: SourceLocation(line: 2, column: 44),
                                                           end: SourceLocation(line: 2, column: 50)))
        XCTAssertTrue(rendered("layers: !!seq\n  - ReLU\n").contains("'!!seq'"))
        XCTAssertTrue(rendered("layers:\n  - !custom ReLU\n").contains("'!custom'"))
    }

    func testTabsAreExplainedAndShown() {
        XCTAssertEqual(rendered("layers:\n\t- ReLU\n"), """
        model.yaml:2:1: error: a tab in the indentation: YAML indents with spaces only
        →- ReLU
        ^
        note: libyaml says: found character that cannot start any token (while scanning for the next token at line 2, column 1)
        hint: replace the tab (shown as →) with spaces, lining this line up with the lines it belongs to

        """)
        XCTAssertTrue(rendered("layers:\n  - Conv2D:\n  \tout_channels: 8\n").hasPrefix(
            "model.yaml:3:3: error: a tab in the indentation: YAML indents with spaces only\n  →out_channels: 8\n  ^\n"))
    }

    func testBadIndentationIsExplained() {
        XCTAssertEqual(rendered("layers:\n  - ReLU\n   - Linear: {out_features: 10}\n"), """
        model.yaml:3:12: error: unexpected ':' here: is this line indented too far, or a value missing its quotes?
           - Linear: {out_features: 10}
                   ^
        note: libyaml says: mapping values are not allowed in this context
        hint: line keys up under their parent (`- Conv2D:` then its arguments indented further), or quote a value that contains ': '

        """)
        let outdented = rendered("layers:\n  - ReLU\ntrain:\n  epochs: 3\n batch_size: 4\n")
        XCTAssertTrue(outdented.hasPrefix("model.yaml:5:2: error: bad indentation: this line does not line up with the block that starts at line "),
                      outdented)
        XCTAssertTrue(outdented.contains("hint: indent every key of a mapping, and every `- ` of a list, by the same number of spaces"), outdented)
    }

    /// 1 MiB specs: 110,000 layers (refused past 1,000), 80,000 unknown keys, 120,000 duplicate
    /// keys. Quadratic processing took minutes on files like these; the times are printed, not
    /// asserted.
    func testLargeSpecsAreProcessedInLinearTime() {
        let manyLayers = "layers:\n" + String(repeating: "  - ReLU\n", count: 110_000)
        let manyKeys = "layers:\n  - Linear: {out_features: 10}\n" + (0..<80_000).map { "key\($0): 1\n" }.joined()
        let duplicates = "layers:\n  - Linear: {out_features: 10}\n" + String(repeating: "name: x\n", count: 120_000)
        for (label, text) in [("110,000 layers", manyLayers), ("80,000 unknown keys", manyKeys), ("120,000 duplicate keys", duplicates)] {
            XCTAssertLessThanOrEqual(text.utf8.count, maxSpecFileSize)
            let started = Date()
            let result = parsed(text)
            print("\(label) (\(text.utf8.count) bytes): \(Date().timeIntervalSince(started)) s")
            XCTAssertTrue(result.hasErrors)
            XCTAssertEqual(result.diagnostics.count, label == "110,000 layers" ? 1 : maxDiagnostics + 1)
        }
        let layers = parsed(manyLayers).diagnostics
        XCTAssertEqual(layers.map(\.message), ["too many layers: a spec may have at most 1000 (this file has 110000)"])
        XCTAssertEqual(layers.first?.location, SourceLocation(line: 1_002, column: 5))
        XCTAssertEqual(parsed(manyKeys).diagnostics.last?.message, "79900 more problems not shown; fix these first")
        let atLimit = "layers:\n" + String(repeating: "  - ReLU\n", count: LayerTable.maxLayers - 1) + "  - Linear: {out_features: 10}\n"
        XCTAssertFalse(parsed(atLimit).hasErrors, "exactly \(LayerTable.maxLayers) layers are allowed")
    }
}
