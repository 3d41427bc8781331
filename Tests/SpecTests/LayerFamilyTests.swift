import XCTest
@testable import Spec

/// Each layer kind is one family (`LayerKindSpec`, Spec/Layers/Kinds/): `LayerName.family` and
/// `LayerKind.spec` reach it, its table entry drives the decoder, and its decoding and
/// `argumentValues` are each other's inverse. (Graph and Runtime pin their halves in their tests.)
final class LayerFamilyTests: XCTestCase {
    func testEveryNameHasItsFamily() {
        for name in LayerName.allCases {
            XCTAssertEqual(name.family.name, name)
            XCTAssertEqual(name.family.schema.kind, name)
            XCTAssertEqual(name.schema, name.family.schema)
        }
    }

    /// A value of each argument's type that every kind's ranges and rules accept (MaxPool2D's
    /// padding is at most half the kernel).
    private func sample(_ argument: ArgumentSchema) -> (text: String, value: ArgumentValue)? {
        switch argument.type {
        case .integer: return ("3", .integer(3))
        case .integerOrPair: return argument.key == "padding" ? ("1", .pair(Pair(square: 1))) : ("[2, 4]", .pair(Pair(2, 4)))
        case .number: return ("0.25", .number(0.25))
        case .boolean: return ("false", .boolean(false))
        case .string, .choice, .integerList, .layerList, .mapping, .choiceOrMapping: return nil
        }
    }

    /// Written with every argument the table lists, each kind decodes to its family's type and
    /// gives back exactly what was written; a key the table does not list is refused.
    func testTheTableDrivesTheDecoderAndArgumentValuesInvertIt() throws {
        for name in LayerName.allCases {
            var written: [String] = []
            var expected: [String: ArgumentValue] = [:]
            for argument in name.schema.arguments {
                guard let (text, value) = sample(argument) else { continue }
                written.append("\(argument.key): \(text)")
                expected[argument.key] = value
            }
            written.append("name: probe")
            let item = "\(name.rawValue): {\(written.joined(separator: ", "))}"
            let result = parsed("layers:\n  - \(item)\n")
            XCTAssertFalse(result.hasErrors, "\(item):\n\(result.renderedDiagnostics)")
            let layer = try XCTUnwrap(result.spec?.layers.first, item)
            XCTAssertEqual(layer.name, "probe")
            XCTAssertEqual(layer.kind.name, name)
            XCTAssertTrue(type(of: layer.kind.spec) == name.family, "\(name): LayerKind.spec is its family's type")
            XCTAssertEqual(layer.kind.spec.layerKind, layer.kind)
            XCTAssertEqual(layer.kind.spec.argumentValues, expected, item)

            let unknown = parsed("layers:\n  - \(name.rawValue): {\(written.joined(separator: ", ")), bogus_key: 1}\n")
            XCTAssertTrue(unknown.diagnostics.contains { $0.message == "unknown argument 'bogus_key' for \(name.rawValue)" },
                          unknown.renderedDiagnostics)
        }
    }

    /// Written with its required arguments only, each kind's values are the table's defaults.
    func testFamiliesDefaultAsTheTableSays() throws {
        for name in LayerName.allCases {
            let required = name.schema.requiredArguments.compactMap { argument in sample(argument).map { "\(argument.key): \($0.text)" } }
            let item = required.isEmpty ? name.rawValue : "\(name.rawValue): {\(required.joined(separator: ", "))}"
            let layer = try XCTUnwrap(parsed("layers:\n  - \(item)\n").spec?.layers.first, item)
            let values = layer.kind.spec.argumentValues
            for argument in name.schema.arguments where !argument.isRequired {
                let table: ArgumentValue?
                switch argument.defaultValue {
                case let .integer(value): table = .integer(value)
                case let .pair(value): table = .pair(value)
                case let .number(value): table = .number(value)
                case let .boolean(value): table = .boolean(value)
                case .required, .choice, .integerList, .derived: table = nil
                }
                if let table {
                    XCTAssertEqual(values[argument.key], table, "\(name).\(argument.key)")
                }
            }
        }
    }

    /// Other frameworks' names for a kind's arguments name arguments the kind has.
    func testForeignArgumentsRenameToTheTablesKeys() {
        for name in LayerName.allCases {
            for (key, foreign) in name.family.foreignArguments {
                XCTAssertNil(name.schema.argument(named: key), "\(name).\(key) is a cnnc argument")
                if case let .renamed(target, _) = foreign {
                    XCTAssertNotNil(name.schema.argument(named: target), "\(name): \(key) → \(target)")
                }
            }
        }
    }
}
