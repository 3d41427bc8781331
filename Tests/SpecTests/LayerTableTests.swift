import XCTest
@testable import Spec

/// The layer table drives the decoder: every argument it lists is accepted with its type and
/// range, nothing else is, and its defaults are the decoder's.
final class LayerTableTests: XCTestCase {
    func testEveryKindHasADescriptionAndSpellingsResolve() {
        XCTAssertEqual(LayerName.all, LayerName.allCases)
        XCTAssertEqual(LayerTable.layers.map(\.kind), LayerName.allCases)
        for layer in LayerTable.layers {
            XCTAssertFalse(layer.doc.isEmpty, "\(layer.kind)")
            XCTAssertTrue(layer.pytorchClass.hasPrefix("nn."), "\(layer.kind)")
            XCTAssertEqual(layer.arguments.last?.key, "name", "every kind takes `name`, listed last")
            XCTAssertEqual(Set(layer.argumentKeys).count, layer.arguments.count, "no duplicate keys in \(layer.kind)")
            for spelling in layer.spellings {
                XCTAssertEqual(LayerName(spelling: spelling), layer.kind)
                XCTAssertEqual(LayerName(spelling: spelling.uppercased()), layer.kind)
                XCTAssertEqual(LayerName(spelling: spelling.lowercased()), layer.kind)
                XCTAssertNil(LayerName(spelling: "nn." + spelling), "prefixes are diagnosed, not accepted")
            }
            XCTAssertEqual(LayerTable.schema(for: layer.kind), layer)
        }
        XCTAssertEqual(LayerTable.schema(forSpelling: "Conv2d")?.kind, .conv2d)
        XCTAssertNil(LayerName(spelling: "Dense"))
    }

    func testLookups() throws {
        let conv = LayerName.conv2d.schema
        XCTAssertEqual(conv.argument(named: "kernel_size")?.type, .integerOrPair)
        XCTAssertEqual(conv.argument(named: "kernel_size")?.pytorchName, "kernel_size")
        XCTAssertNil(conv.argument(named: "kernel"))
        XCTAssertEqual(conv.suggestedArgument(for: "kernal_size")?.key, "kernel_size")
        XCTAssertEqual(conv.requiredArguments.map(\.key), ["out_channels", "kernel_size"])
        XCTAssertFalse(conv.canBeBare)
        XCTAssertTrue(LayerName.relu.schema.canBeBare)
        XCTAssertEqual(LayerName.suggestion(for: "Conv3D"), .conv2d)
        XCTAssertEqual(LayerName.suggestion(for: "Relu6"), .relu)
        XCTAssertNil(LayerName.suggestion(for: "Sigmoid"))
        let p = try XCTUnwrap(LayerName.dropout.schema.argument(named: "p"))
        XCTAssertEqual(p.range, .unitHalfOpen)
        XCTAssertEqual(p.defaultValue, .number(0.5))
        XCTAssertTrue(p.type.isNumeric)
        XCTAssertEqual(p.range?.description, "[0, 1)")
        XCTAssertEqual(LayerTable.trainKeys.keys, ["epochs", "batch_size", "optimizer", "seed"])
        XCTAssertEqual(LayerTable.optimizerKeys.keys, ["name", "lr", "momentum", "weight_decay"])
        XCTAssertEqual(LayerTable.topLevelKeys.keys, ["name", "input", "layers", "train"])
        XCTAssertEqual(SpecDecoder.topLevelKeys, LayerTable.topLevelKeys.keys)
    }

    func testRangeTexts() {
        XCTAssertEqual(ValueRange.atLeast(1).description, "≥ 1")
        XCTAssertEqual(ValueRange.atLeast(1).requirement, "must be at least 1")
        XCTAssertEqual(ValueRange.positive.description, "> 0")
        XCTAssertEqual(ValueRange.positive.requirement, "must be greater than 0")
        XCTAssertEqual(ValueRange.unitClosed.requirement, "must be in [0, 1]")
        XCTAssertTrue(ValueRange.unitHalfOpen.contains(0))
        XCTAssertFalse(ValueRange.unitHalfOpen.contains(1))
        XCTAssertFalse(ValueRange.positive.contains(0))
    }

    /// A valid value of `argument`'s type, as YAML text.
    private func sample(_ argument: ArgumentSchema) -> String {
        switch argument.type {
        case .integer, .integerOrPair: return argument.key == "padding" ? "1" : "2"
        case .number: return "0.25"
        case .boolean: return "false"
        case .string: return "x"
        case .choice(let words): return words[0]
        case .integerList, .layerList, .mapping, .choiceOrMapping: return "?"
        }
    }

    /// Every argument of every kind decodes with a sample value; an argument another kind takes,
    /// but this one does not, is rejected.
    func testDecoderAcceptsExactlyTheTablesArguments() {
        let allKeys = Set(LayerTable.layers.flatMap(\.argumentKeys))
        for layer in LayerTable.layers {
            let arguments = layer.arguments.map { "\($0.key): \(sample($0))" }.joined(separator: ", ")
            let result = parsed("layers:\n  - \(layer.canonicalName): {\(arguments)}\n")
            XCTAssertFalse(result.hasErrors, "\(layer.kind):\n\(result.renderedDiagnostics)")
            XCTAssertEqual(result.spec?.layers.first?.kind.name, layer.kind)
            for key in allKeys.subtracting(layer.argumentKeys).sorted() {
                let result = parsed("layers:\n  - \(layer.canonicalName): {\(key): 1}\n")
                XCTAssertTrue(result.diagnostics.contains { $0.severity == .error && $0.message.contains("'\(key)'") },
                              "\(layer.kind) must reject '\(key)':\n\(result.renderedDiagnostics)")
            }
        }
    }

    /// Left out, each argument takes the default the table states.
    func testDefaultsAreTheTables() throws {
        let spec = try XCTUnwrap(parsed("layers:\n  - Conv2D: {out_channels: 4, kernel_size: 3}\n  - MaxPool2D: {kernel_size: 2}\n"
                                        + "  - BatchNorm2D\n  - Dropout\n  - Linear: {out_features: 10}\n").spec)
        guard case let .conv2d(conv) = spec.layers[0].kind, case let .maxPool2d(pool) = spec.layers[1].kind,
              case let .batchNorm2d(norm) = spec.layers[2].kind, case let .dropout(dropout) = spec.layers[3].kind,
              case let .linear(linear) = spec.layers[4].kind else {
            return XCTFail("unexpected kinds \(spec.layers.map(\.kind))")
        }
        let table = { (kind: LayerName, key: String) in kind.schema.argument(named: key)?.defaultValue }
        XCTAssertEqual(table(.conv2d, "stride"), .pair(conv.stride))
        XCTAssertEqual(table(.conv2d, "padding"), .pair(conv.padding))
        XCTAssertEqual(table(.conv2d, "bias"), .boolean(conv.bias))
        XCTAssertEqual(table(.maxPool2d, "padding"), .pair(pool.padding))
        XCTAssertEqual(pool.stride, pool.kernel, "the table says stride = kernel_size")
        XCTAssertEqual(table(.batchNorm2d, "eps"), .number(norm.eps))
        XCTAssertEqual(table(.batchNorm2d, "momentum"), .number(norm.momentum))
        XCTAssertEqual(table(.dropout, "p"), .number(dropout.p))
        XCTAssertEqual(table(.linear, "bias"), .boolean(linear.bias))
    }

    /// Each range in the table is the decoder's: the bound itself is accepted or refused as the
    /// range says, with the range's wording.
    func testRangesAreTheDecoders() {
        for layer in LayerTable.layers {
            for argument in layer.arguments where argument.type.isNumeric {
                guard let range = argument.range, let minimum = range.minimum else { continue }
                let isInteger = argument.type != .number
                let text = isInteger ? String(Int(minimum)) : numberText(minimum)
                let below = isInteger ? String(Int(minimum) - 1) : "-0.5"
                var others = layer.requiredArguments.filter { $0.key != argument.key }.map { "\($0.key): 2" }
                if layer.kind == .maxPool2d && argument.key == "padding" { others = ["kernel_size: 2"] }
                let prefix = others.map { $0 + ", " }.joined()
                let atMinimum = parsed("layers:\n  - \(layer.canonicalName): {\(prefix)\(argument.key): \(text)}\n")
                XCTAssertEqual(atMinimum.hasErrors, !range.minimumInclusive,
                               "\(layer.kind).\(argument.key) = \(text):\n\(atMinimum.renderedDiagnostics)")
                let under = parsed("layers:\n  - \(layer.canonicalName): {\(prefix)\(argument.key): \(below)}\n")
                XCTAssertTrue(under.diagnostics.contains { $0.message == "'\(argument.key)' \(range.requirement), got \(below)" },
                              "\(layer.kind).\(argument.key) = \(below):\n\(under.renderedDiagnostics)")
            }
        }
    }
}
