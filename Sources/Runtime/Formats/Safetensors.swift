import Foundation
import Graph
import Spec

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
    let root: JSON
    do {
        root = try JSON.parse(Array(bytes[8..<headerEnd]))
    } catch {
        throw invalid("header JSON: \(error)")
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
        func field(_ f: String) -> JSON? { fields.first(where: { $0.0 == f })?.1 }
        guard case .string(let dtype)? = field("dtype") else { throw invalid("tensor '\(key)' has no string dtype") }
        guard dtype == "F32" || dtype == "I64" else { throw invalid("tensor '\(key)' has unsupported dtype \(dtype)") }
        guard case .array(let shapeValues)? = field("shape") else { throw invalid("tensor '\(key)' has no shape array") }
        var shape: [Int] = []
        for s in shapeValues {
            guard case .int(let d) = s, d >= 0 else { throw invalid("tensor '\(key)' has a non-integer or negative dimension") }
            shape.append(d)
        }
        guard case .array(let offsetValues)? = field("data_offsets"), offsetValues.count == 2,
              case .int(let begin) = offsetValues[0], case .int(let end) = offsetValues[1],
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
        guard !overflow else { throw invalid("tensor '\(key)' shape \(shape) of \(dtype) overflows a byte count") }
        guard end - begin == expectedBytes else {
            throw invalid("tensor '\(key)' has \(end - begin) bytes but shape \(shape) of \(dtype) needs \(expectedBytes)")
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
