/// One node of a parsed YAML document, reduced to what a cnnc spec needs: scalars,
/// sequences and mappings, each with the 1-based position where it starts.
public struct YAMLNode: Sendable {
    /// The content of a node.
    public enum Value: Sendable {
        /// A scalar's text; `plain` is true when it was written without quotes.
        case scalar(String, plain: Bool)
        /// A block (`- item`) or flow (`[a, b]`) sequence.
        case sequence([YAMLNode])
        /// A block or flow mapping, in file order; duplicate keys are kept.
        case mapping([(key: YAMLNode, value: YAMLNode)])
    }

    public var value: Value
    public var location: SourceLocation
    /// Where the node ends (exclusive, 1-based): for a scalar just after its last character
    /// (closing quote included), for a collection just after its closing bracket or last item.
    public var end: SourceLocation
    /// The explicit tag written before the node (`!!str`, `!custom`), if any; cnnc rejects tags.
    public var tag: String?

    public init(_ value: Value, at location: SourceLocation, end: SourceLocation? = nil, tag: String? = nil) {
        self.value = value
        self.location = location
        self.end = end ?? location
        self.tag = tag
    }

    /// `location..<end`.
    public var range: SourceRange { SourceRange(start: location, end: end) }

    /// The scalar's text, or nil for a sequence or mapping.
    public var scalarText: String? {
        if case .scalar(let text, _) = value {
            return text
        }
        return nil
    }

    /// True for an unquoted empty scalar, `~` or `null`: YAML's way of writing nothing.
    public var isNull: Bool {
        guard case .scalar(let text, let plain) = value, plain else { return false }
        switch text {
        case "", "~", "null", "Null", "NULL":
            return true
        default:
            return false
        }
    }

    /// A short description for messages: `'eight'`, `a list`, `a mapping`, `nothing`.
    public var summary: String {
        switch value {
        case .scalar(let text, let plain):
            if isNull {
                return "nothing"
            }
            let shown = text.count > 40 ? String(text.prefix(40)) + "…" : text
            return plain ? "'\(shown)'" : "a quoted string \"\(shown)\""
        case .sequence(let items):
            return items.count == 1 ? "a list of 1 item" : "a list of \(items.count) items"
        case .mapping:
            return "a mapping"
        }
    }
}
