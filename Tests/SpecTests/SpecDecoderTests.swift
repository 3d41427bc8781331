import XCTest
@testable import Spec

final class SpecDecoderTests: XCTestCase {
    // MARK: - Happy paths

    func testFullExampleDecodesToTypedValues() throws {
        let result = parsed(exampleSpec)
        XCTAssertEqual(result.diagnostics, [])
        let spec = try XCTUnwrap(result.spec)
        XCTAssertEqual(spec.name, "mnist-cnn")
        XCTAssertEqual(spec.input, [1, 28, 28])
        XCTAssertEqual(spec.inputLocation, SourceLocation(line: 2, column: 8))
        XCTAssertEqual(spec.layersLocation, SourceLocation(line: 3, column: 1))
        XCTAssertEqual(spec.layers.map(\.kind), [
            .conv2d(Conv2DSpec(outChannels: 32, kernel: Pair(square: 3), stride: Pair(square: 1),
                               padding: Pair(square: 1), bias: true)),
            .batchNorm2d(BatchNorm2DSpec()),
            .relu,
            .maxPool2d(MaxPool2DSpec(kernel: Pair(2, 2), stride: Pair(2, 2))),
            .dropout(DropoutSpec(p: 0.25)),
            .linear(LinearSpec(outFeatures: 128)),
            .linear(LinearSpec(outFeatures: 10, weightDecay: 0.0005)),
            .softmax,
        ])
        XCTAssertEqual(spec.layers.map(\.name), [nil, nil, nil, nil, nil, nil, "head", nil])
        XCTAssertEqual(spec.layers[0].location, SourceLocation(line: 4, column: 5))
        XCTAssertEqual(spec.layers[1].location, SourceLocation(line: 5, column: 5))
        XCTAssertEqual(spec.layers[0].argumentLocations["kernel_size"], SourceLocation(line: 4, column: 32))
        XCTAssertEqual(spec.layers[0].location(of: "stride"), SourceLocation(line: 4, column: 48))
        XCTAssertEqual(spec.layers[1].argumentLocations, [:])
        XCTAssertEqual(spec.train, TrainSpec(epochs: 10, batchSize: 32,
                                             optimizer: OptimizerSpec(kind: .adam, lr: 0.001, weightDecay: 0.0),
                                             seed: 0))
    }

    func testMinimalSpecUsesDefaults() throws {
        let spec = try XCTUnwrap(parsed("layers: [Linear: {out_features: 10}]\n", path: "dir/tiny.yml").spec)
        XCTAssertEqual(spec.name, "tiny")
        XCTAssertEqual(spec.input, [1, 28, 28])
        XCTAssertNil(spec.inputLocation)
        XCTAssertEqual(spec.layers.map(\.kind), [.linear(LinearSpec(outFeatures: 10, bias: true))])
        XCTAssertEqual(spec.train, TrainSpec())
    }

    func testPyTorchSpellingsLowercaseAndPairs() throws {
        let text = """
        input: [3, 32, 30]
        layers:
          - conv2d: {out_channels: 8, kernel_size: [3, 5], stride: [1, 2], padding: [1, 2], bias: no}
          - batchnorm2d: {eps: 0.001, momentum: 1}
          - RELU:
          - MaxPool2d: {kernel_size: [2, 3], stride: 1, padding: [1, 1]}
          - Dropout: {}
          - BatchNorm2d
          - LINEAR: {out_features: 10, bias: False}
          - softmax: {name: probs}
        train:
          optimizer: SGD
        """
        let spec = try XCTUnwrap(parsed(text).spec)
        XCTAssertEqual(spec.input, [3, 32, 30])
        XCTAssertEqual(spec.layers.map(\.kind), [
            .conv2d(Conv2DSpec(outChannels: 8, kernel: Pair(3, 5), stride: Pair(1, 2), padding: Pair(1, 2), bias: false)),
            .batchNorm2d(BatchNorm2DSpec(eps: 0.001, momentum: 1)),
            .relu,
            .maxPool2d(MaxPool2DSpec(kernel: Pair(2, 3), stride: Pair(1, 1), padding: Pair(1, 1))),
            .dropout(DropoutSpec(p: 0.5)),
            .batchNorm2d(BatchNorm2DSpec()),
            .linear(LinearSpec(outFeatures: 10, bias: false)),
            .softmax,
        ])
        XCTAssertEqual(spec.layers.last?.name, "probs")
        XCTAssertEqual(spec.train.optimizer, OptimizerSpec(kind: .sgd))
    }

    func testSGDWithMomentum() throws {
        let text = "layers: [ReLU]\ntrain: {optimizer: {name: Sgd, lr: 0.05, momentum: 0.9}, seed: 42}\n"
        let spec = try XCTUnwrap(parsed(text).spec)
        XCTAssertEqual(spec.train.optimizer, OptimizerSpec(kind: .sgd, lr: 0.05, momentum: 0.9))
        XCTAssertEqual(spec.train.seed, 42)
    }

    func testMomentumWithAdamIsAWarningOnly() throws {
        let text = "layers: [ReLU]\ntrain:\n  optimizer: {name: adam, momentum: 0.9}\n"
        let result = parsed(text)
        XCTAssertNotNil(result.spec)
        XCTAssertFalse(result.hasErrors)
        XCTAssertEqual(result.renderedDiagnostics, """
        model.yaml:3:27: warning: 'momentum' is ignored by adam
          optimizer: {name: adam, momentum: 0.9}
                                  ^
        hint: momentum applies to sgd; remove it or use `name: sgd`

        """)
    }

    // MARK: - Golden diagnostics

    func testUnknownTopLevelKey() {
        XCTAssertEqual(rendered("name: x\nlayer:\n  - ReLU\n"), """
        model.yaml:1:1: error: missing required key 'layers'
        name: x
        ^
        hint: add `layers:` with a list of layers, e.g. `- Linear: {out_features: 10}`
        model.yaml:2:1: error: unknown key 'layer'
        layer:
        ^
        hint: did you mean 'layers'?

        """)
    }

    func testDuplicateKey() {
        XCTAssertEqual(rendered("layers:\n  - Dropout:\n      p: 0.1\n      p: 0.2\n"), """
        model.yaml:4:7: error: duplicate key 'p' (first at line 3)
              p: 0.2
              ^
        hint: remove one of them

        """)
    }

    func testUnknownLayerWithDidYouMean() {
        XCTAssertEqual(rendered("layers:\n  - Conv3D: {out_channels: 8, kernel_size: 3}\n  - Maxpool\n"), """
        model.yaml:2:5: error: 'Conv3D' is not a supported layer
          - Conv3D: {out_channels: 8, kernel_size: 3}
            ^
        hint: did you mean 'Conv2D'? supported layers: Linear, Conv2D, MaxPool2D, BatchNorm2D, Dropout, ReLU, Softmax
        model.yaml:3:5: error: unknown layer 'Maxpool'
          - Maxpool
            ^
        hint: did you mean 'MaxPool2D'?

        """)
    }

    func testUnknownLayerWithoutSuggestion() {
        XCTAssertEqual(rendered("layers: [Blur]\n"), """
        model.yaml:1:10: error: unknown layer 'Blur'
        layers: [Blur]
                 ^
        hint: supported layers: Linear, Conv2D, MaxPool2D, BatchNorm2D, Dropout, ReLU, Softmax

        """)
    }

    func testNonWhitelistedPyTorchLayers() {
        XCTAssertEqual(rendered("layers:\n  - Flatten\n  - Sigmoid\n  - AvgPool2D: {kernel_size: 2}\n"), """
        model.yaml:2:5: error: 'Flatten' is not a supported layer
          - Flatten
            ^
        hint: flattening is implicit: Linear flattens its input; remove this layer
        model.yaml:3:5: error: 'Sigmoid' is not a supported layer
          - Sigmoid
            ^
        hint: supported layers: Linear, Conv2D, MaxPool2D, BatchNorm2D, Dropout, ReLU, Softmax
        model.yaml:4:5: error: 'AvgPool2D' is not a supported layer
          - AvgPool2D: {kernel_size: 2}
            ^
        hint: supported layers: Linear, Conv2D, MaxPool2D, BatchNorm2D, Dropout, ReLU, Softmax

        """)
    }

    func testWrongTypes() {
        let text = "layers:\n  - Conv2D: {out_channels: eight, kernel_size: 3.0, bias: maybe}\n  - Dropout: {p: '0.1'}\n"
        XCTAssertEqual(rendered(text), """
        model.yaml:2:28: error: 'out_channels' must be an integer, got 'eight'
          - Conv2D: {out_channels: eight, kernel_size: 3.0, bias: maybe}
                                   ^
        model.yaml:2:48: error: 'kernel_size' must be an integer, got '3.0'
          - Conv2D: {out_channels: eight, kernel_size: 3.0, bias: maybe}
                                                       ^
        model.yaml:2:59: error: 'bias' must be true or false, got 'maybe'
          - Conv2D: {out_channels: eight, kernel_size: 3.0, bias: maybe}
                                                                  ^
        model.yaml:3:18: error: 'p' must be a number, got a quoted string "0.1"
          - Dropout: {p: '0.1'}
                         ^

        """)
    }

    func testOutOfRangeValues() {
        let text = """
        layers:
          - Conv2D: {out_channels: 0, kernel_size: [3, -1], padding: -1}
          - Dropout: {p: 1.0}
          - Dropout: {p: -0.1}
          - MaxPool2D: {kernel_size: 3, padding: 2}
        """
        XCTAssertEqual(rendered(text), """
        model.yaml:2:28: error: 'out_channels' must be at least 1, got 0
          - Conv2D: {out_channels: 0, kernel_size: [3, -1], padding: -1}
                                   ^
        model.yaml:2:48: error: 'kernel_size' must be at least 1, got -1
          - Conv2D: {out_channels: 0, kernel_size: [3, -1], padding: -1}
                                                       ^
        model.yaml:2:62: error: 'padding' must be at least 0, got -1
          - Conv2D: {out_channels: 0, kernel_size: [3, -1], padding: -1}
                                                                     ^
        model.yaml:3:18: error: 'p' must be in [0, 1), got 1.0
          - Dropout: {p: 1.0}
                         ^
        model.yaml:4:18: error: 'p' must be in [0, 1), got -0.1
          - Dropout: {p: -0.1}
                         ^
        model.yaml:5:42: error: padding 2 exceeds half the kernel 3
          - MaxPool2D: {kernel_size: 3, padding: 2}
                                                 ^
        hint: MaxPool2D padding must be at most kernel_size / 2

        """)
    }

    func testUnknownAndMissingArguments() {
        // A misspelt required argument gets its did-you-mean, not also "Conv2D needs 'out_channels'".
        XCTAssertEqual(rendered("layers:\n  - Conv2D: {out_channel: 8, kernel: 3}\n"), """
        model.yaml:2:14: error: unknown argument 'out_channel' for Conv2D
          - Conv2D: {out_channel: 8, kernel: 3}
                     ^
        hint: did you mean 'out_channels'?
        model.yaml:2:30: error: unknown argument 'kernel' for Conv2D
          - Conv2D: {out_channel: 8, kernel: 3}
                                     ^
        hint: did you mean 'kernel_size'?

        """)
    }

    func testArgumentsIndentedAtLayerLevel() {
        XCTAssertEqual(rendered("layers:\n  - Linear:\n    out_features: 10\n"), """
        model.yaml:3:5: error: a layer must be a single `Name: {arguments}` entry; found extra key 'out_features'
            out_features: 10
            ^
        hint: indent the arguments under 'Linear:' or write `- Linear: {out_features: …}`

        """)
    }

    func testSoftmaxNotLast() {
        XCTAssertEqual(rendered("layers:\n  - Softmax\n  - Linear: {out_features: 10}\n  - softmax\n  - ReLU\n"), """
        model.yaml:2:5: error: Softmax must be the last layer
          - Softmax
            ^
        hint: cnnc pairs a final Softmax with cross-entropy; drop it or move it to the end
        model.yaml:4:5: error: Softmax must be the last layer
          - softmax
            ^
        hint: cnnc pairs a final Softmax with cross-entropy; drop it or move it to the end

        """)
    }

    func testEmptyLayers() {
        let expected = """
        model.yaml:1:1: error: 'layers' is empty
        layers:
        ^
        hint: list at least one layer, e.g. `- Linear: {out_features: 10}`

        """
        XCTAssertEqual(rendered("layers:\n"), expected.replacingOccurrences(of: "layers:\n^", with: "layers:\n^"))
        XCTAssertEqual(rendered("layers: []\n"), expected.replacingOccurrences(of: "layers:\n^", with: "layers: []\n^"))
    }

    func testTopLevelMustBeAMapping() {
        XCTAssertEqual(rendered("- ReLU\n"), """
        model.yaml:1:1: error: the top level of a spec must be a mapping, got a list of 1 item
        - ReLU
        ^
        hint: a spec is a mapping with at least `layers:`

        """)
    }

    func testBadInputAndTrain() {
        let text = """
        name: [a]
        input: [1, 28]
        layers: [ReLU]
        train:
          epochs: 0
          batchsize: 8
          optimizer: {name: adamw, lr: 0}
          seed: -1
        """
        XCTAssertEqual(rendered(text), """
        model.yaml:1:7: error: 'name' must be a string, got a list of 1 item
        name: [a]
              ^
        model.yaml:2:8: error: 'input' must be [channels, height, width], got a list of 2 items
        input: [1, 28]
               ^
        hint: MNIST is `input: [1, 28, 28]`
        model.yaml:5:11: error: 'epochs' must be at least 1, got 0
          epochs: 0
                  ^
        model.yaml:6:3: error: unknown key 'batchsize' in 'train'
          batchsize: 8
          ^
        hint: did you mean 'batch_size'?
        model.yaml:7:21: error: unknown optimizer 'adamw'
          optimizer: {name: adamw, lr: 0}
                            ^
        hint: did you mean 'adam'?
        model.yaml:7:32: error: 'lr' must be greater than 0, got 0
          optimizer: {name: adamw, lr: 0}
                                       ^
        model.yaml:8:9: error: 'seed' must be at least 0, got -1
          seed: -1
                ^

        """)
    }

    func testMultipleErrorsAllReported() {
        let text = """
        layers:
          - Conv2D: {out_channels: 0, kernel_size: 3}
          - ReLU
          - Sigmoid
          - Linear: {out_features: ten}
          - Dropout: {p: 2}
          - Softmax
        """
        let result = parsed(text)
        XCTAssertNil(result.spec)
        XCTAssertEqual(result.diagnostics.count, 4)
        XCTAssertEqual(result.diagnostics.compactMap(\.location?.line), [2, 4, 5, 6])
    }

    func testYAMLSyntaxErrorGolden() {
        XCTAssertEqual(rendered("layers:\n  - ReLU\n - Linear: {out_features: 10}\n"), """
        model.yaml:3:2: error: bad indentation: this line does not line up with the block that starts at line 1, column 1
         - Linear: {out_features: 10}
         ^
        note: libyaml says: did not find expected key (while parsing a block mapping at line 1, column 1)
        hint: indent every key of a mapping, and every `- ` of a list, by the same number of spaces

        """)
    }

    func testAliasGolden() {
        XCTAssertEqual(rendered("layers:\n  - &r ReLU\n  - *r\n"), """
        model.yaml:3:5: error: YAML aliases are not supported in a cnnc spec
          - *r
            ^
        hint: write the value out in full

        """)
    }

    func testDeepNestingGolden() {
        let text = "layers: " + String(repeating: "[", count: 200) + "\n"
        XCTAssertEqual(rendered(text), """
        model.yaml:1:40: error: nesting deeper than 32 levels
        layers: \(String(repeating: "[", count: 200))
                                               ^
        hint: a cnnc spec needs only a few levels of nesting

        """)
    }

    func testEmptyFileGolden() {
        XCTAssertEqual(rendered(""), "model.yaml: error: the file is empty; a spec needs at least `layers:`\n")
        XCTAssertEqual(rendered("# nothing here\n"), "model.yaml: error: the file is empty; a spec needs at least `layers:`\n")
        XCTAssertEqual(rendered("---\n"), "model.yaml: error: the file is empty; a spec needs at least `layers:`\n")
    }

    func testOddShapes() {
        XCTAssertEqual(rendered("layers: [Conv2D: 5]\n"), """
        model.yaml:1:18: error: the arguments of Conv2D must be a mapping, got '5'
        layers: [Conv2D: 5]
                         ^
        hint: write arguments as `- Conv2D: {key: value, …}`

        """)
        let messages = [
            "layers: [ReLU]\ntrain: 5\n": "'train' must be a mapping, got '5'",
            "layers: [ReLU]\ntrain: {optimizer: {lr: 0.1}}\n": "'optimizer' needs 'name'",
            "layers: [Linear: {out_features: 99999999999999999999999}]\n": "'out_features' is too large, got '99999999999999999999999'",
            "layers: [[ReLU]]\n": "a layer must be a name or `Name: {arguments}`, got a list",
            "layers: {a: b}\n": "'layers' must be a list, got a mapping",
            "layers: [{}]\n": "empty layer item",
            "layers: [Dropout: {p: .nan}]\n": "'p' must be a number, got '.nan'",
            "layers: [BatchNorm2D: {eps: 0, momentum: 1.5}]\n": "'eps' must be greater than 0, got 0",
        ]
        for (text, message) in messages {
            let result = parsed(text)
            XCTAssertNil(result.spec, text)
            XCTAssertEqual(result.diagnostics.first?.message, message, text)
        }
    }
}
