import XCTest
import Graph
import Spec

/// The editor queries of Graph (Sources/Graph/Queries): hover, inlay hints and symbols from the
/// analysis of a spec text, without any protocol.
final class SpecAnalysisTests: XCTestCase {
    func analysis(_ text: String) -> SpecAnalysis {
        SpecAnalysis(path: "t.yaml", text: text)
    }

    let lenetLike = """
        layers:
          - Conv2D: {out_channels: 6, kernel_size: 5, padding: 2}
          - ReLU
          - MaxPool2D: {kernel_size: 2}
          - Linear: {out_features: 10}
        """

    func testDiagnosticsAreCompilationsAndFactsFollowTheLayers() {
        let result = analysis(lenetLike)
        XCTAssertEqual(result.diagnostics, Compilation.compile(source: SourceFile(path: "t.yaml", text: lenetLike)).diagnostics)
        XCTAssertEqual(result.layers.map(\.step.output.description), ["6×28×28", "6×28×28", "6×14×14", "10"])
        // 6·1·25 + 6 = 156; then 6·14·14·10 + 10 = 11,770 more.
        XCTAssertEqual(result.layers.map(\.runningParameters), [156, 156, 156, 11_926])
        XCTAssertEqual(result.layers.last?.flatten?.output, .flat(1176))
        XCTAssertEqual(result.layers.last?.input, .image(channels: 6, height: 14, width: 14))
    }

    func testHoverOnALayerAndOnAKey() throws {
        let result = analysis(lenetLike)
        let conv = try XCTUnwrap(result.hover(at: SourceLocation(line: 2, column: 3)))
        XCTAssertEqual(conv.start, SourceLocation(line: 2, column: 5))
        XCTAssertEqual(conv.end, SourceLocation(line: 2, column: 11))
        XCTAssertTrue(conv.text.hasPrefix("**Conv2D** `conv2d_0` · module 0"), conv.text)
        XCTAssertTrue(conv.text.contains("- shape: 1×28×28 → 6×28×28"), conv.text)
        // 156 / 1,000,000 = 0.0156 % → 0.02 %; MACs 6·25·28·28 = 117,600.
        XCTAssertTrue(conv.text.contains("- parameters: 156 (0.02% of the 1,000,000 budget; 156 up to here)"), conv.text)
        XCTAssertTrue(conv.text.contains("- MACs: 117,600 per image"), conv.text)

        let linear = try XCTUnwrap(result.hover(at: SourceLocation(line: 5, column: 6)))
        XCTAssertTrue(linear.text.contains("flattened first: 6×14×14 → 1176 (module 3, implicit Flatten)"), linear.text)

        let padding = try XCTUnwrap(result.hover(at: SourceLocation(line: 2, column: 48)))
        XCTAssertTrue(padding.text.hasPrefix("**padding** · Conv2D argument"), padding.text)
        XCTAssertTrue(padding.text.contains("- default: 0"), padding.text)
        XCTAssertTrue(padding.text.contains("nn.Conv2d(padding=…)"), padding.text)
        XCTAssertEqual(padding.start, SourceLocation(line: 2, column: 47))
        XCTAssertEqual(padding.end, SourceLocation(line: 2, column: 54))
    }

    func testHoverWithoutShapesStillNamesTheLayerKind() throws {
        let result = analysis("layers:\n  - Conv2D: {out_channels: 8}\n  - Linear: {out_features: 10}\n")
        XCTAssertTrue(result.layers.isEmpty, "the spec does not decode")
        let hover = try XCTUnwrap(result.hover(at: SourceLocation(line: 2, column: 6)))
        XCTAssertTrue(hover.text.contains("no shapes until the spec's errors are fixed"), hover.text)
        XCTAssertNil(analysis("layers:\n  - Conv3D\n").hover(at: SourceLocation(line: 2, column: 6)))
    }

    func testInlayHintsAtLineEnds() {
        let hints = analysis(lenetLike).inlayHints()
        XCTAssertEqual(hints.map(\.label), ["→ 6×28×28 · Σ 156", "→ 6×28×28 · Σ 156", "→ 6×14×14 · Σ 156",
                                            "→ 10 · Σ 11,926"])
        XCTAssertEqual(hints.first?.position, SourceLocation(line: 2, column: 58))
        XCTAssertEqual(hints[1].position, SourceLocation(line: 3, column: 9))
    }

    /// A shape error stops the shapes at the layer that does not fit; the ones before it stay.
    func testShapesUpToAShapeError() {
        let result = analysis("""
            layers:
              - MaxPool2D: {kernel_size: 4}
              - MaxPool2D: {kernel_size: 4}
              - Conv2D: {out_channels: 4, kernel_size: 3}
              - Linear: {out_features: 10}
            """)
        XCTAssertEqual(result.diagnostics.count, 1)
        XCTAssertTrue(result.diagnostics.first?.message.contains("does not fit input 1×1×1") == true,
                      "\(result.diagnostics)")
        XCTAssertEqual(result.inlayHints().map(\.label), ["→ 1×7×7 · Σ 0", "→ 1×1×1 · Σ 0"])
    }

    func testSymbolsOutlineEveryItem() {
        let symbols = analysis(lenetLike).symbols()
        XCTAssertEqual(symbols.map(\.name), ["0 Conv2D conv2d_0", "1 ReLU relu_1", "2 MaxPool2D maxpool2d_2",
                                             "4 Linear linear_4"])
        XCTAssertEqual(symbols.map(\.detail), ["→ 6×28×28", "→ 6×28×28", "→ 6×14×14", "→ 10"])
        let broken = analysis("layers:\n  - Conv3D\n  - ReLU\n").symbols()
        XCTAssertEqual(broken.map(\.name), ["0 Conv3D", "1 ReLU"])
        XCTAssertEqual(broken.map(\.detail), [nil, nil])
    }

    func testCompletionsAndFixes() {
        let result = analysis("layers:\n  - Conv3D: {out_channels: 8, kernel_size: 3}\n  - Linear: {out_features: 10}\n")
        XCTAssertEqual(result.completions(at: SourceLocation(line: 2, column: 45)).map(\.label),
                       [], "an unknown layer offers no arguments")
        let fixes = result.fixes(onLines: 2...2)
        XCTAssertEqual(fixes.first?.fix.edits.first?.replacement, "Conv2D", "\(fixes)")
        XCTAssertEqual(fixes.first?.fix.edits.first?.range.start, SourceLocation(line: 2, column: 5))
        XCTAssertEqual(result.fixes(onLines: 3...3).count, 0)
    }

    /// Every query at every position of mangled specs answers without trapping.
    func testQueriesNeverTrapOnMangledText() throws {
        let seeds = try exampleNames.map { try String(contentsOfFile: examplePath($0), encoding: .utf8) }
        let cuts = ["{", "}", "[", ":", "- ", "\t", "#", "\"", "😀", "\r", "\u{2028}"]
        for seed in seeds {
            let characters = Array(seed)
            for (i, cut) in cuts.enumerated() {
                let at = (i * 97 + 31) % characters.count
                let text = String(characters[..<at]) + cut + String(characters[min(at + i, characters.count)...])
                let result = analysis(text)
                let source = SourceFile(path: "t.yaml", text: text)
                _ = result.inlayHints()
                _ = result.symbols()
                for line in 1...(source.lines.count + 1) {
                    for column in stride(from: 1, through: 70, by: 3) {
                        let location = SourceLocation(line: line, column: column)
                        _ = result.hover(at: location)
                        _ = result.completions(at: location)
                    }
                }
                _ = result.fixes(onLines: 1...source.lines.count + 1)
            }
        }
    }
}
