import Graph
import Spec

/// A JSON value with keys kept in the order they were given, so output is stable.
public indirect enum JSON: Hashable, Sendable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSON])
    case object([(String, JSON)])

    public static func == (a: JSON, b: JSON) -> Bool { a.rendered() == b.rendered() }
    public func hash(into hasher: inout Hasher) { hasher.combine(rendered()) }

    /// An optional number or null.
    public static func number(_ value: Double?) -> JSON {
        value.map { .double($0) } ?? .null
    }

    /// Compact (one line) or indented by two spaces.
    public func rendered(pretty: Bool = false) -> String {
        var out = ""
        write(to: &out, pretty: pretty, indent: 0)
        return out
    }

    private func write(to out: inout String, pretty: Bool, indent: Int) {
        switch self {
        case .null:
            out += "null"
        case let .bool(value):
            out += value ? "true" : "false"
        case let .int(value):
            out += String(value)
        case let .double(value):
            out += value.isFinite ? jsonNumber(value) : "null"
        case let .string(value):
            out += jsonQuoted(value)
        case let .array(values):
            writeContainer(values.map { (nil, $0) }, open: "[", close: "]", to: &out, pretty: pretty, indent: indent)
        case let .object(pairs):
            writeContainer(pairs.map { ($0.0, $0.1) }, open: "{", close: "}", to: &out, pretty: pretty, indent: indent)
        }
    }

    private func writeContainer(_ items: [(String?, JSON)], open: String, close: String,
                                to out: inout String, pretty: Bool, indent: Int) {
        out += open
        guard !items.isEmpty else {
            out += close
            return
        }
        // Arrays of scalars stay on one line even when pretty.
        let inline = !pretty || items.allSatisfy { $0.0 == nil && !$0.1.isContainer }
        for (i, (key, value)) in items.enumerated() {
            if i > 0 { out += inline ? (pretty ? ", " : ",") : "," }
            if !inline { out += "\n" + String(repeating: " ", count: indent + 2) }
            if let key {
                out += jsonQuoted(key) + (pretty ? ": " : ":")
            }
            value.write(to: &out, pretty: pretty, indent: indent + 2)
        }
        if !inline { out += "\n" + String(repeating: " ", count: indent) }
        out += close
    }

    private var isContainer: Bool {
        switch self {
        case .array, .object: return true
        case .null, .bool, .int, .double, .string: return false
        }
    }
}

/// Shortest round-tripping decimal; integral values keep a `.0` off (`1` not `1.0`).
private func jsonNumber(_ value: Double) -> String {
    if value == value.rounded(), abs(value) < 1e15 {
        return String(Int(value))
    }
    return "\(value)"
}

/// A JSON string literal.
public func jsonQuoted(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if scalar.value < 0x20 {
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out + "\""
}
