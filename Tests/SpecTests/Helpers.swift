import XCTest
@testable import Spec

/// Parses `text` as `model.yaml` and renders every diagnostic.
func rendered(_ text: String, path: String = "model.yaml") -> String {
    parseSpec(SourceFile(path: path, text: text)).renderedDiagnostics
}

/// Parses `text` as `model.yaml`.
func parsed(_ text: String, path: String = "model.yaml") -> SpecParseResult {
    parseSpec(SourceFile(path: path, text: text))
}

/// A valid spec used as the starting point of many tests.
let exampleSpec = """
name: mnist-cnn
input: [1, 28, 28]
layers:
  - Conv2D: {out_channels: 32, kernel_size: 3, stride: 1, padding: 1, bias: true}
  - BatchNorm2D
  - ReLU
  - MaxPool2D: {kernel_size: 2}
  - Dropout: {p: 0.25}
  - Linear: {out_features: 128}
  - Linear: {out_features: 10, name: head, weight_decay: 0.0005}
  - Softmax
train:
  epochs: 10
  batch_size: 32
  optimizer: {name: adam, lr: 0.001, weight_decay: 0.0}
  seed: 0

"""

/// Deterministic 64-bit generator (SplitMix64) for the fuzz tests.
struct SplitMix64 {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform-enough integer in `0..<bound` (bound > 0).
    mutating func below(_ bound: Int) -> Int {
        Int(next() % UInt64(bound))
    }
}
