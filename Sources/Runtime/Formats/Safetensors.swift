import Foundation

/// One named tensor stored in a safetensors file.
public struct SafetensorsTensor: Equatable, Sendable {
    /// Element storage of a tensor; the case determines the safetensors `dtype`.
    public enum Payload: Equatable, Sendable {
        /// 32-bit floats, dtype `F32`.
        case float32([Float])
        /// 64-bit signed integers, dtype `I64`.
        case int64([Int64])

        /// Number of elements.
        public var count: Int {
            switch self {
            case .float32(let v): return v.count
            case .int64(let v): return v.count
            }
        }

        /// The safetensors dtype string (`"F32"` or `"I64"`).
        public var dtype: String {
            switch self {
            case .float32: return "F32"
            case .int64: return "I64"
            }
        }

        /// Bytes per element.
        public var elementSize: Int {
            switch self {
            case .float32: return 4
            case .int64: return 8
            }
        }
    }

    /// Tensor name (the JSON key).
    public var name: String
    /// Dimensions; their product must equal the payload's element count.
    public var shape: [Int]
    /// The elements in row-major order.
    public var payload: Payload

    /// Creates a tensor; `shape` must describe exactly `payload.count` elements.
    public init(name: String, shape: [Int], payload: Payload) {
        precondition(shape.allSatisfy { $0 >= 0 } && shape.reduce(1, *) == payload.count,
                     "SafetensorsTensor '\(name)': shape \(shape) does not match \(payload.count) elements")
        self.name = name
        self.shape = shape
        self.payload = payload
    }
}

/// Serialises tensors and metadata in the safetensors format.
///
/// Layout: an 8-byte little-endian header length `N`, then `N` bytes of JSON (padded with spaces so
/// that `N` is a multiple of 8), then the raw little-endian tensor data, contiguous, in the given
/// order. JSON keys appear in the given order, tensors first, then `"__metadata__"` (omitted when
/// `metadata` is empty). Tensor names must be unique and must not be `"__metadata__"`.
public func encodeSafetensors(_ tensors: [SafetensorsTensor], metadata: [(String, String)]) -> [UInt8] {
    var json = "{"
    var offset = 0
    var first = true
    for t in tensors {
        precondition(t.name != "__metadata__", "tensor name '__metadata__' is reserved")
        let size = t.payload.count * t.payload.elementSize
        if !first { json += "," }
        first = false
        json += jsonQuoted(t.name)
        json += ":{\"dtype\":\"\(t.payload.dtype)\",\"shape\":["
        json += t.shape.map(String.init).joined(separator: ",")
        json += "],\"data_offsets\":[\(offset),\(offset + size)]}"
        offset += size
    }
    if !metadata.isEmpty {
        if !first { json += "," }
        json += "\"__metadata__\":{"
        json += metadata.map { jsonQuoted($0.0) + ":" + jsonQuoted($0.1) }.joined(separator: ",")
        json += "}"
    }
    json += "}"
    var header = Array(json.utf8)
    while header.count % 8 != 0 { header.append(0x20) }

    var out: [UInt8] = []
    out.reserveCapacity(8 + header.count + offset)
    let n = UInt64(header.count)
    for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: n >> UInt64(8 * i))) }
    out.append(contentsOf: header)
    for t in tensors {
        switch t.payload {
        case .float32(let values):
            for v in values {
                let bits = v.bitPattern.littleEndian
                withUnsafeBytes(of: bits) { out.append(contentsOf: $0) }
            }
        case .int64(let values):
            for v in values {
                let bits = v.littleEndian
                withUnsafeBytes(of: bits) { out.append(contentsOf: $0) }
            }
        }
    }
    return out
}

/// Parses a safetensors file.
///
/// Validates the header length, the JSON, each entry (`dtype` `F32` or `I64`, a non-negative
/// integer `shape`, `data_offsets` with `begin <= end`), that `end - begin` equals
/// `product(shape) * sizeof(dtype)`, and that the tensors tile the data section exactly
/// (contiguous, starting at 0, ending at the end of the file). Tensors are returned in data order;
/// metadata in header order.
///
/// - Parameter source: the file name used in error messages.
/// - Throws: ``FormatError/invalidSafetensors(source:reason:)``.
public func decodeSafetensors(_ bytes: [UInt8], source: String = "<safetensors data>") throws
    -> (tensors: [SafetensorsTensor], metadata: [(String, String)])
{
    func invalid(_ reason: String) -> FormatError { .invalidSafetensors(source: source, reason: reason) }
    guard bytes.count >= 8 else { throw invalid("file is \(bytes.count) bytes, shorter than the 8-byte header length") }
    var n: UInt64 = 0
    for i in 0..<8 { n |= UInt64(bytes[i]) << UInt64(8 * i) }
    guard n <= UInt64(bytes.count - 8) else {
        throw invalid("header length \(n) exceeds the file size \(bytes.count)")
    }
    let headerEnd = 8 + Int(n)
    var parser = JSONParser(bytes: bytes, start: 8, end: headerEnd)
    let root: JSONValue
    do {
        root = try parser.parseDocument()
    } catch let e as JSONParser.Failure {
        throw invalid("header JSON: \(e.message)")
    }
    guard case .object(let entries) = root else { throw invalid("header is not a JSON object") }
    let dataSize = bytes.count - headerEnd

    var metadata: [(String, String)] = []
    var specs: [(name: String, shape: [Int], dtype: String, begin: Int, end: Int)] = []
    var seen = Set<String>()
    for (key, value) in entries {
        guard seen.insert(key).inserted else { throw invalid("duplicate key '\(key)'") }
        if key == "__metadata__" {
            guard case .object(let pairs) = value else { throw invalid("__metadata__ is not an object") }
            for (k, v) in pairs {
                guard case .string(let s) = v else { throw invalid("metadata value for '\(k)' is not a string") }
                metadata.append((k, s))
            }
            continue
        }
        guard case .object(let fields) = value else { throw invalid("entry '\(key)' is not an object") }
        func field(_ f: String) -> JSONValue? { fields.first(where: { $0.0 == f })?.1 }
        guard case .string(let dtype)? = field("dtype") else { throw invalid("tensor '\(key)' has no string dtype") }
        guard dtype == "F32" || dtype == "I64" else { throw invalid("tensor '\(key)' has unsupported dtype \(dtype)") }
        guard case .array(let shapeValues)? = field("shape") else { throw invalid("tensor '\(key)' has no shape array") }
        var shape: [Int] = []
        for s in shapeValues {
            guard case .integer(let d) = s, d >= 0 else { throw invalid("tensor '\(key)' has a non-integer or negative dimension") }
            shape.append(d)
        }
        guard case .array(let offsetValues)? = field("data_offsets"), offsetValues.count == 2,
              case .integer(let begin) = offsetValues[0], case .integer(let end) = offsetValues[1],
              begin >= 0, begin <= end
        else { throw invalid("tensor '\(key)' has invalid data_offsets") }
        guard end <= dataSize else {
            throw invalid("tensor '\(key)' data_offsets [\(begin), \(end)] exceed the data section of \(dataSize) bytes")
        }
        var elements = 1
        for d in shape {
            let (p, overflow) = elements.multipliedReportingOverflow(by: d)
            guard !overflow else { throw invalid("tensor '\(key)' shape \(shape) overflows") }
            elements = p
        }
        let elementSize = dtype == "F32" ? 4 : 8
        let (expectedBytes, overflow) = elements.multipliedReportingOverflow(by: elementSize)
        guard !overflow, end - begin == expectedBytes else {
            throw invalid("tensor '\(key)' has \(end - begin) bytes but shape \(shape) of \(dtype) needs \(elements * elementSize)")
        }
        specs.append((key, shape, dtype, begin, end))
    }
    specs.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
    var cursor = 0
    for s in specs {
        guard s.begin == cursor else {
            throw invalid(s.begin < cursor ? "tensor '\(s.name)' overlaps the previous tensor"
                                           : "gap of \(s.begin - cursor) bytes before tensor '\(s.name)'")
        }
        cursor = s.end
    }
    guard cursor == dataSize else {
        throw invalid("data section has \(dataSize - cursor) bytes not covered by any tensor")
    }

    var tensors: [SafetensorsTensor] = []
    tensors.reserveCapacity(specs.count)
    for s in specs {
        let start = headerEnd + s.begin
        let count = (s.end - s.begin) / (s.dtype == "F32" ? 4 : 8)
        let payload: SafetensorsTensor.Payload = bytes.withUnsafeBytes { raw in
            if s.dtype == "F32" {
                return .float32((0..<count).map { i in
                    Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: start + 4 * i, as: UInt32.self)))
                })
            } else {
                return .int64((0..<count).map { i in
                    Int64(littleEndian: raw.loadUnaligned(fromByteOffset: start + 8 * i, as: Int64.self))
                })
            }
        }
        tensors.append(SafetensorsTensor(name: s.name, shape: s.shape, payload: payload))
    }
    return (tensors, metadata)
}

/// Encodes tensors and metadata and writes them atomically to `path`.
///
/// - Throws: ``FormatError/cannotWrite(path:reason:)``.
public func writeSafetensors(_ tensors: [SafetensorsTensor], metadata: [(String, String)], to path: String) throws {
    try writeFileAtomically(encodeSafetensors(tensors, metadata: metadata), to: path)
}

/// Reads and decodes the safetensors file at `path`.
///
/// - Throws: ``FormatError`` naming `path`.
public func readSafetensors(path: String) throws -> (tensors: [SafetensorsTensor], metadata: [(String, String)]) {
    let data: Data
    do {
        data = try Data(contentsOf: URL(fileURLWithPath: path))
    } catch {
        throw FormatError.cannotRead(path: path, reason: error.localizedDescription)
    }
    return try decodeSafetensors([UInt8](data), source: path)
}


/// A parsed JSON value; objects keep their key order.
enum JSONValue {
    case object([(String, JSONValue)])
    case array([JSONValue])
    case string(String)
    case integer(Int)
    case number(Double)
    case bool(Bool)
    case null
}

/// A small order-preserving JSON parser for safetensors headers.
struct JSONParser {
    struct Failure: Error {
        let message: String
    }

    private let bytes: [UInt8]
    private var pos: Int
    private let end: Int
    private var depth = 0

    init(bytes: [UInt8], start: Int, end: Int) {
        self.bytes = bytes
        self.pos = start
        self.end = end
    }

    /// Parses one value followed only by whitespace.
    mutating func parseDocument() throws -> JSONValue {
        let v = try parseValue()
        skipWhitespace()
        guard pos == end else { throw fail("unexpected data after the JSON value") }
        return v
    }

    private func fail(_ message: String) -> Failure {
        Failure(message: "\(message) at header byte \(pos - (bytes.count >= 8 ? 8 : 0))")
    }

    private mutating func skipWhitespace() {
        while pos < end, bytes[pos] == 0x20 || bytes[pos] == 0x0a || bytes[pos] == 0x0d || bytes[pos] == 0x09 { pos += 1 }
    }

    private mutating func expect(_ literal: String) throws {
        for b in literal.utf8 {
            guard pos < end, bytes[pos] == b else { throw fail("expected '\(literal)'") }
            pos += 1
        }
    }

    private mutating func parseValue() throws -> JSONValue {
        skipWhitespace()
        guard pos < end else { throw fail("unexpected end of header") }
        switch bytes[pos] {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expect("true"); return .bool(true)
        case UInt8(ascii: "f"): try expect("false"); return .bool(false)
        case UInt8(ascii: "n"): try expect("null"); return .null
        default: return try parseNumber()
        }
    }

    private mutating func enter() throws {
        depth += 1
        guard depth <= 64 else { throw fail("nesting too deep") }
    }

    private mutating func parseObject() throws -> JSONValue {
        try enter()
        defer { depth -= 1 }
        pos += 1
        var members: [(String, JSONValue)] = []
        skipWhitespace()
        if pos < end, bytes[pos] == UInt8(ascii: "}") { pos += 1; return .object(members) }
        while true {
            skipWhitespace()
            guard pos < end, bytes[pos] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
            let key = try parseString()
            skipWhitespace()
            try expect(":")
            members.append((key, try parseValue()))
            skipWhitespace()
            guard pos < end else { throw fail("unterminated object") }
            if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
            if bytes[pos] == UInt8(ascii: "}") { pos += 1; return .object(members) }
            throw fail("expected ',' or '}'")
        }
    }

    private mutating func parseArray() throws -> JSONValue {
        try enter()
        defer { depth -= 1 }
        pos += 1
        var items: [JSONValue] = []
        skipWhitespace()
        if pos < end, bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array(items) }
        while true {
            items.append(try parseValue())
            skipWhitespace()
            guard pos < end else { throw fail("unterminated array") }
            if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
            if bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array(items) }
            throw fail("expected ',' or ']'")
        }
    }

    private mutating func hex4() throws -> UInt32 {
        guard pos + 4 <= end else { throw fail("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[pos]
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw fail("invalid \\u escape")
            }
            v = v << 4 | d
            pos += 1
        }
        return v
    }

    private mutating func parseString() throws -> String {
        pos += 1  // opening quote
        var utf8: [UInt8] = []
        while true {
            guard pos < end else { throw fail("unterminated string") }
            let c = bytes[pos]
            pos += 1
            if c == UInt8(ascii: "\"") { break }
            if c < 0x20 { throw fail("control character in string") }
            if c != UInt8(ascii: "\\") { utf8.append(c); continue }
            guard pos < end else { throw fail("unterminated escape") }
            let e = bytes[pos]
            pos += 1
            switch e {
            case UInt8(ascii: "\""): utf8.append(0x22)
            case UInt8(ascii: "\\"): utf8.append(0x5c)
            case UInt8(ascii: "/"): utf8.append(0x2f)
            case UInt8(ascii: "b"): utf8.append(0x08)
            case UInt8(ascii: "f"): utf8.append(0x0c)
            case UInt8(ascii: "n"): utf8.append(0x0a)
            case UInt8(ascii: "r"): utf8.append(0x0d)
            case UInt8(ascii: "t"): utf8.append(0x09)
            case UInt8(ascii: "u"):
                var code = try hex4()
                if (0xD800..<0xDC00).contains(code) {
                    try expect("\\u")
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw fail("invalid surrogate pair") }
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                }
                guard let scalar = Unicode.Scalar(code) else { throw fail("invalid unicode escape") }
                utf8.append(contentsOf: Array(String(Character(scalar)).utf8))
            default:
                throw fail("invalid escape")
            }
        }
        guard let s = String(validating: utf8, as: UTF8.self) else { throw fail("invalid UTF-8 in string") }
        return s
    }

    private mutating func parseNumber() throws -> JSONValue {
        let start = pos
        var isInteger = true
        while pos < end {
            let c = bytes[pos]
            if (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "-") {
                pos += 1
            } else if c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") || c == UInt8(ascii: "+") {
                isInteger = false
                pos += 1
            } else {
                break
            }
        }
        guard pos > start else { throw fail("unexpected character") }
        let text = String(decoding: bytes[start..<pos], as: UTF8.self)
        if isInteger, let i = Int(text) { return .integer(i) }
        guard let d = Double(text) else { throw fail("invalid number '\(text)'") }
        return .number(d)
    }
}
