import XCTest
@testable import Spec

/// Golden diagnostics for the habits people bring from PyTorch and Keras, and their fixes: each
/// fix, applied to the text, leaves a spec without that problem.
final class HabitsTests: XCTestCase {
    /// `text` with `fix`'s edits applied (positions are 1-based; columns count Unicode scalars).
    func applying(_ fix: FixIt, to text: String) -> String {
        var scalars = Array(text.unicodeScalars)
        var lineStarts = [0]
        for (offset, scalar) in scalars.enumerated() where scalar == "\n" {
            lineStarts.append(offset + 1)
        }
        func offset(_ location: SourceLocation) -> Int {
            guard location.line <= lineStarts.count else { return scalars.count }
            return min(lineStarts[location.line - 1] + location.column - 1, scalars.count)
        }
        for edit in fix.edits.sorted(by: { $0.range.start > $1.range.start }) {
            scalars.replaceSubrange(offset(edit.range.start)..<offset(edit.range.end), with: Array(edit.replacement.unicodeScalars))
        }
        var out = String.UnicodeScalarView()
        out.append(contentsOf: scalars)
        return String(out)
    }

    /// The only fix of the diagnostic whose message contains `message`, applied to `text`.
    func fixed(_ text: String, _ message: String, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let diagnostic = try XCTUnwrap(parsed(text).diagnostics.first { $0.message.contains(message) },
                                       "no diagnostic about \(message)", file: file, line: line)
        XCTAssertEqual(diagnostic.fixes.count, 1, "\(diagnostic)", file: file, line: line)
        let fix = try XCTUnwrap(diagnostic.fixes.first, file: file, line: line)
        return applying(fix, to: text)
    }

    func testInferredSizes() throws {
        let text = "layers:\n  - Conv2D: {in_channels: 1, out_channels: 8, kernel_size: 3}\n  - Linear: {out_features: 10, in_features: 6272}\n"
        XCTAssertEqual(rendered(text), """
        model.yaml:2:14: error: 'in_channels' is inferred from the previous layer; delete this line
          - Conv2D: {in_channels: 1, out_channels: 8, kernel_size: 3}
                     ^
        hint: cnnc computes every layer's input size from the layers before it
        model.yaml:3:32: error: 'in_features' is inferred from the previous layer; delete this line
          - Linear: {out_features: 10, in_features: 6272}
                                       ^
        hint: cnnc computes every layer's input size from the layers before it

        """)
        XCTAssertEqual(try fixed(text, "'in_channels'"),
                       "layers:\n  - Conv2D: {out_channels: 8, kernel_size: 3}\n  - Linear: {out_features: 10, in_features: 6272}\n")
        XCTAssertEqual(try fixed(text, "'in_features'"),
                       "layers:\n  - Conv2D: {in_channels: 1, out_channels: 8, kernel_size: 3}\n  - Linear: {out_features: 10}\n")
        let block = "layers:\n  - Conv2D:\n      in_channels: 1\n      out_channels: 8\n      kernel_size: 3\n  - Linear: {out_features: 10}\n"
        let fixedBlock = try fixed(block, "'in_channels'")
        XCTAssertEqual(fixedBlock, "layers:\n  - Conv2D:\n      out_channels: 8\n      kernel_size: 3\n  - Linear: {out_features: 10}\n")
        XCTAssertFalse(parsed(fixedBlock).hasErrors)
        XCTAssertTrue(rendered("layers:\n  - BatchNorm2D: {num_features: 8}\n").contains("'num_features' is inferred"))
    }

    func testModulePrefixes() throws {
        let text = "layers:\n  - nn.Conv2d: {out_channels: 8, kernel_size: 3}\n  - torch.nn.MaxPool2d: {kernel_size: 2}\n  - nn.Sigmoid\n"
        XCTAssertEqual(rendered(text), """
        model.yaml:2:5: error: 'nn.Conv2d': cnnc layer names have no 'nn.' prefix
          - nn.Conv2d: {out_channels: 8, kernel_size: 3}
            ^
        hint: write `Conv2d`
        model.yaml:3:5: error: 'torch.nn.MaxPool2d': cnnc layer names have no 'torch.nn.' prefix
          - torch.nn.MaxPool2d: {kernel_size: 2}
            ^
        hint: write `MaxPool2d`
        model.yaml:4:5: error: 'nn.Sigmoid' is not a supported layer
          - nn.Sigmoid
            ^
        hint: supported layers: Linear, Conv2D, MaxPool2D, BatchNorm2D, Dropout, ReLU, Softmax

        """)
        XCTAssertTrue(try fixed(text, "'nn.Conv2d'").contains("\n  - Conv2d: {out_channels: 8"))
        XCTAssertTrue(try fixed(text, "'torch.nn.MaxPool2d'").contains("\n  - MaxPool2d: {kernel_size: 2}"))
        XCTAssertTrue(try fixed("layers:\n  - \"nn.ReLU\"\n", "'nn.ReLU'").contains("- \"ReLU\""), "quoted names keep their quotes")
    }

    func testLossIsAlwaysCrossEntropy() throws {
        let text = "layers:\n  - Linear: {out_features: 10}\n  - LogSoftmax\nloss: cross_entropy\n"
        XCTAssertEqual(rendered(text), """
        model.yaml:3:5: error: 'LogSoftmax' is not needed: the loss is always cross-entropy
          - LogSoftmax
            ^
        hint: cnnc computes log-softmax inside the loss; end with the last Linear, or add Softmax (optional) to output probabilities
        model.yaml:4:1: error: there is no 'loss' key: the loss is always cross-entropy
        loss: cross_entropy
        ^
        hint: delete this line; a final Softmax is optional (cnnc pairs it with cross-entropy either way)

        """)
        XCTAssertEqual(try fixed(text, "'LogSoftmax'"), "layers:\n  - Linear: {out_features: 10}\n  - Softmax\nloss: cross_entropy\n")
        XCTAssertEqual(try fixed(text, "'loss'"), "layers:\n  - Linear: {out_features: 10}\n  - LogSoftmax\n")
    }

    func testKerasNames() throws {
        let text = """
        layers:
          - Conv2D: {filters: 8, kernel_size: 3, activation: relu}
          - MaxPooling2D: {pool_size: 2}
          - Flatten
          - Dropout: {rate: 0.5}
          - Dense: {units: 10}

        """
        XCTAssertEqual(rendered(text), """
        model.yaml:2:14: error: unknown argument 'filters' for Conv2D
          - Conv2D: {filters: 8, kernel_size: 3, activation: relu}
                     ^
        hint: Keras's 'filters' is 'out_channels' in cnnc (PyTorch's name)
        model.yaml:2:42: error: Conv2D has no 'activation': an activation is a layer of its own
          - Conv2D: {filters: 8, kernel_size: 3, activation: relu}
                                                 ^
        hint: delete this argument and add `- ReLU` as the next layer
        model.yaml:3:5: error: 'MaxPooling2D' is Keras's name for MaxPool2D
          - MaxPooling2D: {pool_size: 2}
            ^
        hint: write `MaxPool2D: {kernel_size: 2}` (Keras's pool_size is kernel_size)
        model.yaml:4:5: error: 'Flatten' is not a supported layer
          - Flatten
            ^
        hint: flattening is implicit: Linear flattens its input; remove this layer
        model.yaml:5:15: error: unknown argument 'rate' for Dropout
          - Dropout: {rate: 0.5}
                      ^
        hint: Keras's 'rate' is 'p' in cnnc (PyTorch's name)
        model.yaml:6:5: error: 'Dense' is Keras's name for Linear
          - Dense: {units: 10}
            ^
        hint: write `Linear: {out_features: N}` (Keras's units is out_features)

        """)
        XCTAssertTrue(try fixed(text, "'filters'").contains("{out_channels: 8, kernel_size: 3"))
        XCTAssertTrue(try fixed(text, "'activation'").contains("""
              - Conv2D: {filters: 8, kernel_size: 3}
              - ReLU
              - MaxPooling2D
            """))
        XCTAssertTrue(try fixed(text, "'MaxPooling2D'").contains("  - MaxPool2D: {pool_size: 2}\n"))
        XCTAssertFalse(try fixed(text, "'Flatten'").contains("Flatten"))
        XCTAssertTrue(try fixed(text, "'rate'").contains("  - Dropout: {p: 0.5}\n"))
        XCTAssertTrue(try fixed(text, "'Dense'").contains("  - Linear: {units: 10}\n"))
        XCTAssertTrue(rendered("layers:\n  - Linear: {units: 10}\n").contains("Keras's 'units' is 'out_features'"))
        // Applying every fix leaves a valid spec.
        var text2 = text
        for _ in 0..<10 {
            guard let fix = parsed(text2).diagnostics.first(where: { !$0.fixes.isEmpty })?.fixes.first else { break }
            text2 = applying(fix, to: text2)
        }
        XCTAssertEqual(text2, "layers:\n  - Conv2D: {out_channels: 8, kernel_size: 3}\n  - ReLU\n  - MaxPool2D: {kernel_size: 2}\n"
                       + "  - Dropout: {p: 0.5}\n  - Linear: {out_features: 10}\n")
        XCTAssertFalse(parsed(text2).hasErrors, parsed(text2).renderedDiagnostics)
    }

    func testPaddingSame() throws {
        let text = """
        layers:
          - Conv2D: {out_channels: 8, kernel_size: 3, padding: same}
          - Conv2D: {out_channels: 8, kernel_size: [3, 5], padding: same}
          - Conv2D: {out_channels: 8, kernel_size: 4, padding: same}
          - Conv2D: {out_channels: 8, kernel_size: 3, padding: valid}

        """
        XCTAssertEqual(rendered(text), """
        model.yaml:2:56: error: 'padding' must be a number; cnnc has no 'same'
          - Conv2D: {out_channels: 8, kernel_size: 3, padding: same}
                                                               ^
        hint: for kernel_size 3, `padding: 1` keeps the size at stride 1 ((k − 1) / 2)
        model.yaml:3:61: error: 'padding' must be a number; cnnc has no 'same'
          - Conv2D: {out_channels: 8, kernel_size: [3, 5], padding: same}
                                                                    ^
        hint: for kernel_size [3, 5], `padding: [1, 2]` keeps the size at stride 1 ((k − 1) / 2)
        model.yaml:4:56: error: 'padding' must be a number; cnnc has no 'same'
          - Conv2D: {out_channels: 8, kernel_size: 4, padding: same}
                                                               ^
        hint: kernel_size 4 is even: no padding keeps the size exactly (PyTorch pads one side more); use an odd kernel_size with padding (k − 1) / 2
        model.yaml:5:56: error: 'padding' must be a number; 'valid' is padding 0
          - Conv2D: {out_channels: 8, kernel_size: 3, padding: valid}
                                                               ^
        hint: write `padding: 0` (or leave it out: 0 is the default)

        """)
        XCTAssertTrue(try fixed(text, "'padding' must be a number; cnnc has no 'same'").contains("kernel_size: 3, padding: 1}"))
        let pair = "layers:\n  - Conv2D: {out_channels: 8, kernel_size: [3, 5], padding: same}\n"
        XCTAssertEqual(try fixed(pair, "no 'same'"), "layers:\n  - Conv2D: {out_channels: 8, kernel_size: [3, 5], padding: [1, 2]}\n")
        XCTAssertTrue(parsed(text).diagnostics[2].fixes.isEmpty, "no fix for an even kernel")
    }

    /// `kernal_size`: one error, the did-you-mean, not also "Conv2D needs 'kernel_size'".
    func testMisspeltRequiredArgumentGivesOneError() throws {
        let text = "layers:\n  - Conv2D: {out_channels: 8, kernal_size: 3}\n"
        XCTAssertEqual(rendered(text), """
        model.yaml:2:31: error: unknown argument 'kernal_size' for Conv2D
          - Conv2D: {out_channels: 8, kernal_size: 3}
                                      ^
        hint: did you mean 'kernel_size'?

        """)
        XCTAssertEqual(try fixed(text, "'kernal_size'"), "layers:\n  - Conv2D: {out_channels: 8, kernel_size: 3}\n")
        let diagnostic = try XCTUnwrap(parsed(text).diagnostics.first)
        XCTAssertEqual(diagnostic.end, SourceLocation(line: 2, column: 42), "the underline spans the key")
        // A required argument nothing points at is still reported.
        XCTAssertTrue(rendered("layers:\n  - Conv2D: {out_channels: 8}\n").contains("Conv2D needs 'kernel_size'"))
    }

    func testOtherHabits() {
        let text = "epochs: 3\nlayers:\n  - ReLU: {inplace: true}\n  - BatchNorm2D: {epsilon: 0.001}\n  - Linear: {out_features: 10, use_bias: false}\n  - Softmax: {dim: 1}\n"
        XCTAssertEqual(rendered(text), """
        model.yaml:1:1: error: 'epochs' belongs in the 'train:' section
        epochs: 3
        ^
        hint: move it under `train:`, e.g. `train: {epochs: …}`
        model.yaml:3:12: error: ReLU takes no 'inplace': cnnc decides itself when a layer works in place
          - ReLU: {inplace: true}
                   ^
        hint: delete this argument
        model.yaml:4:19: error: unknown argument 'epsilon' for BatchNorm2D
          - BatchNorm2D: {epsilon: 0.001}
                          ^
        hint: Keras's 'epsilon' is 'eps' in cnnc (PyTorch's name)
        model.yaml:5:32: error: unknown argument 'use_bias' for Linear
          - Linear: {out_features: 10, use_bias: false}
                                       ^
        hint: Keras's 'use_bias' is 'bias' in cnnc (PyTorch's name)
        model.yaml:6:15: error: Softmax takes no 'dim': Softmax is always over the features (PyTorch's dim=1)
          - Softmax: {dim: 1}
                      ^
        hint: delete this argument

        """)
    }

    func testUnknownKeysOfferRenames() throws {
        XCTAssertEqual(try fixed("layer:\n  - Linear: {out_features: 10}\n", "unknown key 'layer'"),
                       "layers:\n  - Linear: {out_features: 10}\n")
        XCTAssertEqual(try fixed("layers:\n  - Conv3D: {out_channels: 8, kernel_size: 3}\n", "'Conv3D'"),
                       "layers:\n  - Conv2D: {out_channels: 8, kernel_size: 3}\n")
        XCTAssertEqual(try fixed("layers:\n  - Linear: {out_features: 10}\ntrain: {batchsize: 4}\n", "'batchsize'"),
                       "layers:\n  - Linear: {out_features: 10}\ntrain: {batch_size: 4}\n")
    }
}
