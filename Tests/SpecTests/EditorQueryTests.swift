import XCTest
import Spec

/// The editor queries of Spec (Sources/Spec/Queries), without any protocol: what is at a
/// position, what may be typed there, where a token ends.
final class EditorQueryTests: XCTestCase {
    /// `text` with `|` marking the cursor: the text without it and the cursor's 1-based location.
    func cursor(_ marked: String) -> (SourceFile, SourceLocation) {
        let lines = marked.split(separator: "\n", omittingEmptySubsequences: false)
        for (index, line) in lines.enumerated() {
            if let bar = line.firstIndex(of: "|") {
                let column = line.unicodeScalars.distance(from: line.unicodeScalars.startIndex, to: bar) + 1
                let text = marked.replacingOccurrences(of: "|", with: "")
                return (SourceFile(path: "t.yaml", text: text), SourceLocation(line: index + 1, column: column))
            }
        }
        XCTFail("no cursor in \(marked)")
        return (SourceFile(path: "t.yaml", text: marked), SourceLocation(line: 1, column: 1))
    }

    func context(_ marked: String) -> CompletionContext? {
        let (source, location) = cursor(marked)
        return CompletionContext.at(location, in: source)
    }

    // MARK: - Completion contexts

    func testLayerNamesAfterADashUnderLayers() {
        XCTAssertEqual(context("layers:\n  - Con|"), .layerName(prefix: "Con", needsDash: false))
        XCTAssertEqual(context("layers:\n- |"), .layerName(prefix: "", needsDash: false), "a list level with its key")
        XCTAssertEqual(context("layers:\n  - ReLU\n  |"), .layerName(prefix: "", needsDash: true))
        XCTAssertNil(context("train:\n  - Con|"), "a dash outside layers: is no layer")
    }

    func testArgumentKeysInFlowAndBlockMappingsSkipWrittenOnes() {
        XCTAssertEqual(context("layers:\n  - Conv2D: {out_channels: 8, ker|}"),
                       .argumentKey(layer: "Conv2D", present: ["out_channels"], prefix: "ker"))
        XCTAssertEqual(context("layers:\n  - conv2d: {|, stride: 2}"),
                       .argumentKey(layer: "conv2d", present: ["stride"], prefix: ""))
        XCTAssertEqual(context("layers:\n  - MaxPool2D:\n      kernel_size: 2\n      |\n      stride: 1"),
                       .argumentKey(layer: "MaxPool2D", present: ["kernel_size", "stride"], prefix: ""))
    }

    func testValuesWithFixedChoices() {
        XCTAssertEqual(context("layers:\n  - Linear: {out_features: 10, bias: t|}"),
                       .argumentValue(layer: "Linear", key: "bias", prefix: "t"))
        XCTAssertEqual(context("train:\n  optimizer: |"), .optimizerName(prefix: ""))
        XCTAssertEqual(context("train:\n  optimizer: {name: s|}"), .optimizerName(prefix: "s"))
        XCTAssertEqual(context("train:\n  optimizer:\n    name: |"), .optimizerName(prefix: ""))
        XCTAssertNil(context("name: |"))
        XCTAssertNil(context("layers:\n  - Conv2D: {kernel_size: [3, |]}"), "inside a pair")
    }

    func testSectionKeys() {
        XCTAssertEqual(context("name: x\nlay|"), .topLevelKey(present: ["name"], prefix: "lay"))
        XCTAssertEqual(context("train:\n  epochs: 3\n  |"), .trainKey(present: ["epochs"], prefix: ""))
        XCTAssertEqual(context("train:\n  optimizer:\n    name: sgd\n    l|"),
                       .optimizerKey(present: ["name"], prefix: "l"))
        XCTAssertNil(context("# a comment |"))
        XCTAssertNil(context("layers:\n  - ReLU  # Con|"))
    }

    func testItemsComeFromTheLayerTable() {
        let layers = CompletionContext.layerName(prefix: "", needsDash: true).items
        XCTAssertEqual(layers.map(\.label), LayerName.allCases.map(\.rawValue))
        XCTAssertEqual(layers.first?.insertText, "- Linear")
        let keys = CompletionContext.argumentKey(layer: "dropout", present: [], prefix: "").items
        XCTAssertEqual(keys.map(\.label), ["p", "name"])
        XCTAssertEqual(keys.first?.detail, "number [0, 1), default 0.5")
        XCTAssertTrue(keys.first?.documentation.contains("PyTorch: `nn.Dropout(p=…)`") == true,
                      keys.first?.documentation ?? "")
        XCTAssertEqual(CompletionContext.argumentKey(layer: "Conv3D", present: [], prefix: "").items, [],
                       "an unknown layer has no known arguments")
        XCTAssertEqual(CompletionContext.optimizerName(prefix: "").items.map(\.label), ["adam", "sgd"])
    }

    // MARK: - Outline and token extents

    func testOutlineFindsKeysAndLayerLinesEvenWhenTheSpecDoesNotDecode() throws {
        let text = """
            layers:
              - Conv3D: {out_channels: 8}
              - Conv2D:
                  kernal_size: 3
            train: {epochs: 2}
            """
        let source = SourceFile(path: "t.yaml", text: text)
        let outline = try XCTUnwrap(SpecOutline(source))
        XCTAssertEqual(outline.layers.map(\.kindText), ["Conv3D", "Conv2D"])
        XCTAssertEqual(outline.layers.map(\.lastLine), [2, 4])
        XCTAssertEqual(outline.trainKeys.map(\.name), ["epochs"])
        XCTAssertEqual(outline.target(at: SourceLocation(line: 4, column: 9), in: source),
                       .argument(layer: 1, key: SpecOutline.Key(name: "kernal_size", location: SourceLocation(line: 4, column: 7))))
        XCTAssertEqual(outline.target(at: SourceLocation(line: 2, column: 30), in: source), .layer(0))
        XCTAssertEqual(outline.target(at: SourceLocation(line: 5, column: 10), in: source),
                       .trainKey(SpecOutline.Key(name: "epochs", location: SourceLocation(line: 5, column: 9))))
        XCTAssertNil(SpecOutline(SourceFile(path: "t.yaml", text: "layers: [")), "not YAML")
    }

    func testTokenEnds() {
        let source = SourceFile(path: "t.yaml", text: "  - Conv2D: {kernal_size: [3, 3], name: \"a b\", p: 0.5}  # x")
        func end(_ column: Int) -> Int { source.tokenEnd(at: SourceLocation(line: 1, column: column)) }
        XCTAssertEqual(end(5), 11, "Conv2D")
        XCTAssertEqual(end(14), 25, "kernal_size")
        XCTAssertEqual(end(27), 33, "[3, 3]")
        XCTAssertEqual(end(41), 46, "\"a b\"")
        XCTAssertEqual(end(51), 54, "0.5")
        XCTAssertEqual(end(200), 200, "beyond the line")
        XCTAssertEqual(source.tokenEnd(at: SourceLocation(line: 9, column: 1)), 1, "beyond the file")
    }
}
