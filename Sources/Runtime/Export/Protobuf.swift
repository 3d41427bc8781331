import Graph
import Spec

/// A minimal protocol-buffers writer for the handful of ONNX messages `cnnc export --onnx` needs.
///
/// Why hand-written rather than swift-protobuf: the exporter writes 11 message types and reads
/// none; the wire format for that is varints, fixed-width length prefixes and nesting (this file),
/// whereas swift-protobuf would add a package dependency to every build and ~10,000 lines of
/// generated code for onnx.proto. Field numbers are taken from onnx.proto (onnx/onnx, IR version 7)
/// and written next to each use in ONNXExport.swift; the ONNX checker and onnxruntime validate the
/// result in .ci/run.
struct ProtobufMessage {
    private(set) var bytes: [UInt8] = []

    private mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7f) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    private mutating func key(_ field: Int, wireType: UInt64) { varint(UInt64(field) << 3 | wireType) }

    /// Wire type 0: int32, int64, enum, bool (negative values as 10-byte two's complement).
    mutating func int(_ field: Int, _ value: Int) {
        key(field, wireType: 0)
        varint(UInt64(bitPattern: Int64(value)))
    }

    /// Wire type 5: float.
    mutating func float(_ field: Int, _ value: Float) {
        key(field, wireType: 5)
        withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// Wire type 2: bytes.
    mutating func bytes(_ field: Int, _ data: [UInt8]) {
        key(field, wireType: 2)
        varint(UInt64(data.count))
        bytes.append(contentsOf: data)
    }

    mutating func string(_ field: Int, _ text: String) { bytes(field, Array(text.utf8)) }

    mutating func message(_ field: Int, _ message: ProtobufMessage) { bytes(field, message.bytes) }

    /// A repeated int64 field, packed (proto3's default encoding for repeated scalars).
    mutating func packedInts(_ field: Int, _ values: [Int]) {
        var inner = ProtobufMessage()
        for v in values { inner.varint(UInt64(bitPattern: Int64(v))) }
        bytes(field, inner.bytes)
    }
}
