import XCTest
@testable import Runtime
import Graph
import Spec

/// Each op's runtime facts are its geometry's (`RuntimeOp`, in Runtime/Ops/<Kind>Step.swift):
/// `Op.runtime` reaches the same family as Graph's `Op.rule`, and each family initializes every
/// float slot it has.
final class LayerFamilyTests: XCTestCase {
    func testEveryOpHasItsRuntimeFamily() throws {
        let yaml = """
        layers:
          - MaxPool2D: {kernel_size: 2, stride: 1}
          - Conv2D: {out_channels: 3, kernel_size: [5, 3], stride: 2, bias: false}
          - Dropout: {p: 0.25}
          - BatchNorm2D: {momentum: 0.2}
          - ReLU
          - Linear: {out_features: 10, bias: false}
          - Softmax

        """
        let compilation = Compilation.compile(source: SourceFile(path: "families.yaml", text: yaml))
        let graph = try XCTUnwrap(compilation.graph, compilation.renderedDiagnostics)
        XCTAssertEqual(Set(graph.steps.compactMap { type(of: $0.op.rule).layerName }), Set(LayerName.allCases))
        for step in graph.steps {
            let family = step.op.runtime
            XCTAssertTrue(type(of: family) == type(of: step.op.rule), step.op.kindName)
            let floatSlots = step.op.slotShapes.map(\.role).filter { $0.storage != .counters }
            XCTAssertTrue(Set(floatSlots).isSubset(of: family.slotInitialization.keys), step.op.kindName)
            let pytorchClass = type(of: step.op.rule).layerName.map { $0.schema.pytorchClass } ?? "nn.Flatten"
            XCTAssertTrue(family.pytorchModule.hasPrefix(pytorchClass + "("), family.pytorchModule)
            XCTAssertEqual(family.onnxNode == nil, step.op == .dropout(p: 0.25), step.op.kindName)
        }
    }
}
