/// The shape of a spec as written: its keys and layer items with their positions, read from the
/// YAML tree without decoding, so an editor can find what is under the cursor even while the
/// spec has errors (an unknown layer, a missing argument). Pure: text in, positions out.
public struct SpecOutline: Sendable {
    /// A mapping key as written, at the position of its first character.
    public struct Key: Sendable, Hashable {
        public var name: String
        public var location: SourceLocation

        public init(name: String, location: SourceLocation) {
            self.name = name
            self.location = location
        }
    }

    /// One item of `layers:`, in file order.
    public struct LayerItem: Sendable {
        /// Position in the `layers:` list (0-based), counting every item, good or bad.
        public var index: Int
        /// The layer name as written (`Conv2D`, `conv2d`, `Conv3D`); nil when the item is not a
        /// name or a single `Name: {…}` entry.
        public var kindText: String?
        /// Where the item starts: its layer name.
        public var location: SourceLocation
        /// The argument keys written in the item's mapping, in file order.
        public var arguments: [Key]
        /// The last line that belongs to the item (the line before the next item or key).
        public var lastLine: Int
    }

    public var topLevelKeys: [Key] = []
    /// Keys of the `train:` mapping.
    public var trainKeys: [Key] = []
    /// Keys of a `train.optimizer` mapping.
    public var optimizerKeys: [Key] = []
    public var layers: [LayerItem] = []

    /// The outline of `source`, or nil when it is not valid YAML (or not a mapping at the top).
    public init?(_ source: SourceFile) {
        guard let root = YAMLParser.parse(source.text).root,
              case let .mapping(entries) = root.value else { return nil }
        let lineCount = source.lines.count
        var layersEnd = lineCount
        for (position, entry) in entries.enumerated() {
            guard let name = entry.key.scalarText else { continue }
            topLevelKeys.append(Key(name: name, location: entry.key.location))
            let nextLine = position + 1 < entries.count ? entries[position + 1].key.location.line - 1 : lineCount
            switch name {
            case "layers":
                layersEnd = nextLine
                readLayers(entry.value, lastLine: layersEnd)
            case "train":
                readTrain(entry.value)
            default:
                break
            }
        }
    }

    private mutating func readLayers(_ node: YAMLNode, lastLine: Int) {
        guard case let .sequence(items) = node.value else { return }
        for (index, item) in items.enumerated() {
            let nextLine = index + 1 < items.count ? max(item.location.line, items[index + 1].location.line - 1) : lastLine
            var layer = LayerItem(index: index, kindText: nil, location: item.location, arguments: [],
                                  lastLine: max(item.location.line, nextLine))
            switch item.value {
            case let .scalar(text, _):
                layer.kindText = item.isNull ? nil : text
            case let .mapping(pairs) where pairs.count == 1:
                layer.kindText = pairs[0].key.scalarText
                layer.location = pairs[0].key.location
                layer.arguments = Self.keys(pairs[0].value)
            case .mapping, .sequence:
                break
            }
            layers.append(layer)
        }
    }

    private mutating func readTrain(_ node: YAMLNode) {
        trainKeys = Self.keys(node)
        guard case let .mapping(entries) = node.value else { return }
        for entry in entries where entry.key.scalarText == "optimizer" {
            optimizerKeys = Self.keys(entry.value)
        }
    }

    private static func keys(_ node: YAMLNode) -> [Key] {
        guard case let .mapping(entries) = node.value else { return [] }
        return entries.compactMap { entry in
            entry.key.scalarText.map { Key(name: $0, location: entry.key.location) }
        }
    }

    /// What the cursor at `location` is on.
    public enum Target: Sendable, Hashable {
        /// An argument key of the layer item at `layer` (an index into `layers`).
        case argument(layer: Int, key: Key)
        /// A key of `train:`.
        case trainKey(Key)
        /// A key of `train.optimizer`.
        case optimizerKey(Key)
        /// A top-level key.
        case topLevelKey(Key)
        /// Anywhere else on the lines of a layer item.
        case layer(Int)
    }

    /// The key under `location`, else the layer item whose lines hold it; nil elsewhere.
    public func target(at location: SourceLocation, in source: SourceFile) -> Target? {
        func covers(_ key: Key) -> Bool {
            key.location.line == location.line && location.column >= key.location.column
                && location.column <= source.tokenEnd(at: key.location)
        }
        for layer in layers {
            if let key = layer.arguments.first(where: covers) {
                return .argument(layer: layer.index, key: key)
            }
        }
        if let key = optimizerKeys.first(where: covers) { return .optimizerKey(key) }
        if let key = trainKeys.first(where: covers) { return .trainKey(key) }
        if let key = topLevelKeys.first(where: covers) { return .topLevelKey(key) }
        if let layer = layers.first(where: { $0.location.line <= location.line && location.line <= $0.lastLine }) {
            return .layer(layer.index)
        }
        return nil
    }
}
