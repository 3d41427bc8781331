import XCTest
@testable import Spec

final class DiagnosticTests: XCTestCase {
    func testRenderWithLocationShowsLineCaretAndHint() {
        let source = SourceFile(path: "m.yaml", text: "layers:\n  - Relu6\n")
        let diagnostic = Diagnostic.error(at: SourceLocation(line: 2, column: 5), "unknown layer 'Relu6'",
                                          hint: "did you mean 'ReLU'?")
        XCTAssertEqual(source.render(diagnostic), """
        m.yaml:2:5: error: unknown layer 'Relu6'
          - Relu6
            ^
        hint: did you mean 'ReLU'?

        """)
    }

    func testRenderWithoutLocation() {
        let source = SourceFile(path: "m.yaml", text: "")
        XCTAssertEqual(source.render(.error(at: nil, "the file is empty")), "m.yaml: error: the file is empty\n")
    }

    func testRenderWarningAndNotes() {
        let source = SourceFile(path: "m.yaml", text: "a: 1\n")
        let diagnostic = Diagnostic.warning(at: SourceLocation(line: 1, column: 1), "careful", notes: ["note: x"])
        XCTAssertEqual(source.render(diagnostic), "m.yaml:1:1: warning: careful\na: 1\n^\nnote: x\n")
    }

    func testRenderReplacesTabsAndStripsCarriageReturn() {
        let source = SourceFile(path: "m.yaml", text: "\tx: 1\r\n")
        let rendered = source.render(.error(at: SourceLocation(line: 1, column: 2), "bad"))
        XCTAssertEqual(rendered, "m.yaml:1:2: error: bad\n→x: 1\n ^\n")
    }

    func testSortedDiagnosticsIsStableAndPutsLocationlessFirst() {
        let a = Diagnostic.error(at: SourceLocation(line: 3, column: 1), "a")
        let b = Diagnostic.error(at: nil, "b")
        let c = Diagnostic.error(at: SourceLocation(line: 1, column: 4), "c")
        let d = Diagnostic.error(at: SourceLocation(line: 3, column: 1), "d")
        XCTAssertEqual(sortedDiagnostics([a, b, c, d]).map(\.message), ["b", "c", "a", "d"])
    }

    func testSuggest() {
        XCTAssertEqual(suggest("layer", among: SpecDecoder.topLevelKeys), "layers")
        XCTAssertEqual(suggest("LAYERS", among: SpecDecoder.topLevelKeys), "layers")
        XCTAssertEqual(suggest("Conv3D", among: LayerKind.canonicalNames), "Conv2D")
        XCTAssertEqual(suggest("Maxpool", among: LayerKind.canonicalNames), "MaxPool2D")
        XCTAssertEqual(suggest("Batchnorm", among: LayerKind.canonicalNames), "BatchNorm2D")
        XCTAssertEqual(suggest("Relu6", among: LayerKind.canonicalNames), "ReLU")
        XCTAssertEqual(suggest("kernel", among: ["out_channels", "kernel_size"]), "kernel_size")
        XCTAssertNil(suggest("Sigmoid", among: LayerKind.canonicalNames))
        XCTAssertNil(suggest("", among: ["a"]))
        XCTAssertNil(suggest("xy", among: ["p"]))
    }

    func testModelNameFromPath() {
        XCTAssertEqual(modelName(fromPath: "specs/mnist-cnn.yaml"), "mnist-cnn")
        XCTAssertEqual(modelName(fromPath: "model"), "model")
        XCTAssertEqual(modelName(fromPath: ".hidden"), ".hidden")
        XCTAssertEqual(modelName(fromPath: "a.b.yml"), "a.b")
    }
}
