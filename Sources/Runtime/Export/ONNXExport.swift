import Foundation
import Graph
import Spec

/// `cnnc export --onnx`: the run's model as an ONNX graph (opset 13, IR version 7), float32, input
/// "input" [N, 1, 28, 28] already normalized as training normalizes it ((pixel / 255 − 0.1307) /
/// 0.3081), output "output" [N, 10] (probabilities when the spec ends in Softmax, else logits),
/// every parameter an initializer named as in weights.safetensors, evaluation semantics: batch
/// norm uses the running statistics, dropout is left out.
public func onnxModel(_ saved: SavedRun) -> [UInt8] {
    guard let weights = saved.weights else { preconditionFailure("ONNX export needs weights") }
    let graph = saved.graph
    var tensors: [String: SafetensorsTensor] = [:]
    for tensor in weights { tensors[tensor.name] = tensor }

    var g = ProtobufMessage()  // GraphProto
    var current = "input"
    var usedInitializers: [String] = []
    for step in graph.steps {
        let output = step.index == graph.steps.count - 1 ? "output" : "t\(step.index)"
        let prefix = "\(step.index)."
        func node(_ opType: String, inputs: [String], attributes: [ProtobufMessage] = []) {
            var n = ProtobufMessage()  // NodeProto
            for input in inputs { n.string(1, input) }        // input
            n.string(2, output)                               // output
            n.string(3, "\(opType.lowercased())_\(step.index)")  // name
            n.string(4, opType)                               // op_type
            for a in attributes { n.message(5, a) }           // attribute
            g.message(1, n)                                   // GraphProto.node
            current = output
        }
        func parameters(_ names: [String]) -> [String] {
            let present = names.map { prefix + $0 }.filter { tensors[$0] != nil }
            usedInitializers += present
            return present
        }
        // Each family's node (`RuntimeOp.onnxNode`); none for ops evaluation leaves out (Dropout).
        guard let n = step.op.runtime.onnxNode else { continue }
        node(n.opType, inputs: [current] + parameters(n.parameters), attributes: n.attributes)
    }
    g.string(2, graph.name)  // GraphProto.name
    for name in usedInitializers {
        let tensor = tensors[name]!
        guard case let .float32(values) = tensor.payload else { preconditionFailure("\(name) is not float32") }
        var t = ProtobufMessage()  // TensorProto
        t.packedInts(1, tensor.shape)  // dims
        t.int(2, 1)                    // data_type FLOAT
        t.string(8, name)              // name
        var raw: [UInt8] = []
        raw.reserveCapacity(values.count * 4)
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { raw.append(contentsOf: $0) } }
        t.bytes(9, raw)                // raw_data (little-endian)
        g.message(5, t)                // GraphProto.initializer
    }
    let input = graph.input.dims
    g.message(11, onnxValueInfo("input", dims: [nil] + input.map { Optional($0) }))             // GraphProto.input
    g.message(12, onnxValueInfo("output", dims: [nil, graph.steps.last!.output.elementCount]))   // GraphProto.output

    var model = ProtobufMessage()  // ModelProto
    model.int(1, 7)                           // ir_version
    model.string(2, "cnnc")                   // producer_name
    model.string(3, cnncVersion)              // producer_version
    model.string(6, "\(graph.name): evaluation-mode export; input normalized (x/255 - \(MNIST.mean)) / \(MNIST.std)")  // doc_string
    model.message(7, g)                       // graph
    var opset = ProtobufMessage()             // OperatorSetIdProto
    opset.string(1, "")                       // domain (the default ONNX domain)
    opset.int(2, 13)                          // version
    model.message(8, opset)                   // opset_import
    return model.bytes
}

/// One op's node in the exported graph: its operator, the slot names of its parameter inputs
/// (`weight`, `bias`; those the run has are initializers) and its attributes.
struct ONNXNode {
    var opType: String
    var parameters: [String]
    var attributes: [ProtobufMessage]

    init(_ opType: String, parameters: [String] = [], attributes: [ProtobufMessage] = []) {
        self.opType = opType
        self.parameters = parameters
        self.attributes = attributes
    }
}

/// AttributeProto with a list of ints (type INTS = 7).
func onnxInts(_ name: String, _ values: [Int]) -> ProtobufMessage {
    var a = ProtobufMessage()
    a.string(1, name)          // name
    a.packedInts(8, values)    // ints
    a.int(20, 7)               // type
    return a
}

/// AttributeProto with one int (type INT = 2).
func onnxInt(_ name: String, _ value: Int) -> ProtobufMessage {
    var a = ProtobufMessage()
    a.string(1, name)
    a.int(3, value)            // i
    a.int(20, 2)
    return a
}

/// AttributeProto with one float (type FLOAT = 1).
func onnxFloat(_ name: String, _ value: Float) -> ProtobufMessage {
    var a = ProtobufMessage()
    a.string(1, name)
    a.float(2, value)          // f
    a.int(20, 1)
    return a
}

/// ValueInfoProto of a float tensor; a nil dimension is the symbolic batch dimension "N".
private func onnxValueInfo(_ name: String, dims: [Int?]) -> ProtobufMessage {
    var shape = ProtobufMessage()  // TensorShapeProto
    for dim in dims {
        var d = ProtobufMessage()  // TensorShapeProto.Dimension
        if let dim { d.int(1, dim) } else { d.string(2, "N") }  // dim_value / dim_param
        shape.message(1, d)
    }
    var tensorType = ProtobufMessage()  // TypeProto.Tensor
    tensorType.int(1, 1)                // elem_type FLOAT
    tensorType.message(2, shape)        // shape
    var type = ProtobufMessage()        // TypeProto
    type.message(1, tensorType)         // tensor_type
    var info = ProtobufMessage()        // ValueInfoProto
    info.string(1, name)
    info.message(2, type)
    return info
}
