import XCTest
@testable import Graph
import Spec

/// Each layer kind's shape rule is its spec family (`LayerShapeRule`), and each op's facts are its
/// geometry's (`OpRule`), in Graph/Layers/: the switches in Ops.swift reach them.
final class LayerFamilyTests: XCTestCase {
    /// Every kind of the whitelist once (and the implicit flatten).
    static let everyKind = """
    layers:
      - Conv2D: {out_channels: 4, kernel_size: 3, padding: 1}
      - BatchNorm2D
      - ReLU
      - MaxPool2D: {kernel_size: 2}
      - Dropout: {p: 0.25}
      - Linear: {out_features: 10}
      - Softmax

    """

    func testEveryNameHasItsShapeRule() {
        for name in LayerName.allCases {
            XCTAssertTrue(ObjectIdentifier(name.shapeFamily) == ObjectIdentifier(name.family), "\(name)")
            XCTAssertFalse(name.shapeRuleText.isEmpty)
            XCTAssertFalse(name.parameterRuleText.isEmpty)
        }
    }

    func testEveryLayerAndOpReachesItsFamily() throws {
        let compilation = compile(Self.everyKind)
        let spec = try XCTUnwrap(compilation.spec)
        let graph = try compiledGraph(Self.everyKind)
        for layer in spec.layers {
            XCTAssertTrue(type(of: layer.kind.shapeRule) == layer.kind.name.family, "\(layer.kind.name)")
        }
        let kinds = graph.steps.map { type(of: $0.op.rule).layerName }
        XCTAssertEqual(kinds.compactMap { $0 }, spec.layers.map(\.kind.name))
        XCTAssertEqual(Set(kinds.compactMap { $0 }), Set(LayerName.allCases), "the spec has every kind")
        XCTAssertEqual(graph.steps.map(\.op.kindName),
                       ["Conv2D", "BatchNorm2D", "ReLU", "MaxPool2D", "Dropout", "Flatten", "Linear", "Softmax"])
        for step in graph.steps {
            XCTAssertEqual(step.op.window != nil, [.conv2d, .maxPool2d].contains(type(of: step.op.rule).layerName),
                           step.op.kindName)
        }
    }
}
