/// One layer kind of the whitelist as Spec knows it: the conforming struct is the kind's typed
/// arguments (`Conv2DSpec`), and it carries the kind's entry in the layer table and its decoding.
/// Each kind is one file in Layers/Kinds/; `LayerName.family` and `LayerKind.spec` (ModelSpec.swift)
/// map the enums' cases to these types. Graph adds the shape rule (`LayerShapeRule`) to the same
/// structs, in Graph/Layers/.
public protocol LayerKindSpec: Hashable, Sendable {
    /// The whitelist entry of this kind.
    static var name: LayerName { get }
    /// The kind's entry in the layer table: spellings, doc, PyTorch class, every argument.
    static var schema: LayerSchema { get }
    /// Other frameworks' argument names this kind spells differently (`filters` for
    /// `out_channels`), by key; none unless a kind says.
    static var foreignArguments: [String: ForeignArgument] { get }
    /// Other frameworks' names for this layer, lowercased (`dense` for Linear), with the message
    /// and hint the decoder gives; none unless a kind says.
    static var foreignNames: [String: (message: String, hint: String)] { get }

    /// The typed layer from arguments the table has read: every written argument has its
    /// `ValueType` and range, and every required one is there. Nil after `arguments.report` for
    /// a rule the table cannot state (MaxPool2D's padding of at most half the kernel).
    init?(_ arguments: inout LayerArguments)
    /// The layer's arguments by key, as `init` reads them, defaults applied (an optional
    /// argument without a default, like `weight_decay`, only when set): `resolved.yaml` writes them
    /// in table order, and Graph checks the integers against its size limit.
    var argumentValues: [String: ArgumentValue] { get }
    /// This layer as the whitelist's enum case.
    var layerKind: LayerKind { get }
    /// The per-layer `weight_decay`, overriding the optimizer's; nil for kinds without one.
    var weightDecay: Double? { get set }
}

extension LayerKindSpec {
    public static var foreignArguments: [String: ForeignArgument] { [:] }
    public static var foreignNames: [String: (message: String, hint: String)] { [:] }

    public var weightDecay: Double? {
        get { nil }
        set {}
    }
}

/// A layer argument's value after reading, typed by its `ValueType`.
public enum ArgumentValue: Hashable, Sendable {
    case integer(Int)
    case pair(Pair)
    case number(Double)
    case boolean(Bool)
    case string(String)
}

/// The arguments of one layer that were written and read without error, for a kind's decoding.
public struct LayerArguments {
    /// By YAML key.
    public var values: [String: ArgumentValue]
    /// The value node of each written key, for reports.
    let nodes: [String: YAMLNode]
    /// What the kind reported.
    var diagnostics: [Diagnostic] = []

    init(values: [String: ArgumentValue], nodes: [String: YAMLNode]) {
        self.values = values
        self.nodes = nodes
    }

    public func integer(_ key: String) -> Int? {
        if case .integer(let value)? = values[key] { return value }
        return nil
    }

    public func pair(_ key: String) -> Pair? {
        if case .pair(let value)? = values[key] { return value }
        return nil
    }

    public func number(_ key: String) -> Double? {
        if case .number(let value)? = values[key] { return value }
        return nil
    }

    public func boolean(_ key: String) -> Bool? {
        if case .boolean(let value)? = values[key] { return value }
        return nil
    }

    public func string(_ key: String) -> String? {
        if case .string(let value)? = values[key] { return value }
        return nil
    }

    /// Reports an error at the value of `key` (the layer's item when `key` was not written).
    public mutating func report(at key: String, _ message: String, hint: String? = nil) {
        let node = nodes[key]
        diagnostics.append(.error(at: node?.location, message, hint: hint, end: node?.end))
    }
}
