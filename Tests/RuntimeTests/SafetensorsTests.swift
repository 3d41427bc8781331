import Foundation
import XCTest
@testable import Runtime
import Graph
import Spec

final class SafetensorsTests: XCTestCase {
    private let tensors = [
        SafetensorsTensor(name: "conv1.weight", shape: [2, 1, 3, 3], payload: .float32((0..<18).map { Float($0) * 0.5 - 3 })),
        SafetensorsTensor(name: "conv1.bias", shape: [3], payload: .float32([1.5, -0.0, .infinity])),
        SafetensorsTensor(name: "step", shape: [], payload: .int64([-42])),
        SafetensorsTensor(name: "empty", shape: [0, 4], payload: .float32([])),
        SafetensorsTensor(name: "counts", shape: [2], payload: .int64([Int64.max, Int64.min])),
    ]
    private let metadata = [("format", "pt"), ("z-last", "1"), ("a \"quoted\"\nkey", "välue ✓")]

    private func header(_ bytes: [UInt8]) -> (length: Int, json: String) {
        let n = (0..<8).reduce(0) { $0 | Int(bytes[$1]) << (8 * $1) }
        return (n, String(decoding: bytes[8..<(8 + n)], as: UTF8.self))
    }

    func testRoundTrip() throws {
        let bytes = encodeSafetensors(tensors, metadata: metadata)
        let decoded = try decodeSafetensors(bytes)
        XCTAssertEqual(decoded.tensors, tensors)
        XCTAssertEqual(decoded.metadata.map(\.0), metadata.map(\.0))
        XCTAssertEqual(decoded.metadata.map(\.1), metadata.map(\.1))
    }

    func testHeaderLayout() throws {
        let bytes = encodeSafetensors(tensors, metadata: metadata)
        let (n, json) = header(bytes)
        XCTAssertEqual(n % 8, 0, "header length must be a multiple of 8")
        XCTAssertEqual((8 + n) % 8, 0)
        XCTAssertTrue(json.hasPrefix(
            #"{"conv1.weight":{"dtype":"F32","shape":[2,1,3,3],"data_offsets":[0,72]},"conv1.bias":{"dtype":"F32","shape":[3],"data_offsets":[72,84]},"step":{"dtype":"I64","shape":[],"data_offsets":[84,92]},"empty":{"dtype":"F32","shape":[0,4],"data_offsets":[92,92]},"counts":{"dtype":"I64","shape":[2],"data_offsets":[92,108]},"__metadata__":{"format":"pt","#),
            json)
        XCTAssertTrue(json.trimmingCharacters(in: .whitespaces).hasSuffix("}"))
        XCTAssertEqual(bytes.count, 8 + n + 108)
        // Raw little-endian data: first weight is -3.0f = 0xC0400000.
        XCTAssertEqual(Array(bytes[(8 + n)..<(12 + n)]), [0x00, 0x00, 0x40, 0xC0])
        // -42 as little-endian Int64 at offset 84.
        XCTAssertEqual(Array(bytes[(8 + n + 84)..<(8 + n + 92)]), [0xD6, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
        // The JSON header parses with Foundation too.
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        XCTAssertEqual(object?.count, 6)
        // Deterministic output.
        XCTAssertEqual(encodeSafetensors(tensors, metadata: metadata), bytes)
        // No metadata: no __metadata__ key; still padded.
        let plain = header(encodeSafetensors([tensors[2]], metadata: []))
        XCTAssertFalse(plain.json.contains("__metadata__"))
        XCTAssertEqual(plain.length % 8, 0)
    }

    func testFileRoundTripAndAtomicWrite() throws {
        let dir = try makeTempDirectory("cnnc-st")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/model.safetensors"
        try writeSafetensors(tensors, metadata: metadata, to: path)
        try writeSafetensors(Array(tensors.prefix(1)), metadata: [], to: path)  // overwrite in place
        let read = try readSafetensors(path: path)
        XCTAssertEqual(read.tensors, Array(tensors.prefix(1)))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["model.safetensors"])
        assertThrows(try writeFileAtomically([1], to: dir + "/missing-dir/x"), contains: [dir + "/missing-dir/x"])
        assertThrows(try readSafetensors(path: dir + "/nope.safetensors"), contains: [dir + "/nope.safetensors"])
    }

    /// Builds a file from a raw JSON header and `dataSize` zero bytes.
    private func file(_ json: String, dataSize: Int) -> [UInt8] {
        var h = Array(json.utf8)
        while h.count % 8 != 0 { h.append(0x20) }
        let n = UInt64(h.count)
        return (0..<8).map { UInt8(truncatingIfNeeded: n >> UInt64(8 * $0)) } + h + [UInt8](repeating: 0, count: dataSize)
    }

    func testHeaderValidation() {
        let good = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        XCTAssertNoThrow(try decodeSafetensors(file(good, dataSize: 8)))
        let cases: [(String, Int, String)] = [
            (good, 12, "not covered"),
            (good, 4, "exceed"),
            (#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, 8, "needs 12"),
            (#"{"a":{"dtype":"F16","shape":[4],"data_offsets":[0,8]}}"#, 8, "unsupported dtype F16"),
            (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, 8, "gap"),
            (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, 8, "overlaps"),
            (#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}}"#, 0, "negative"),
            (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#, 8, "data_offsets"),
            (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[0],"data_offsets":[8,8]}}"#, 8, "duplicate"),
            (#"{"__metadata__":{"k":1}}"#, 0, "not a string"),
            (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}"#, 8, "header JSON"),
            (#"[1]"#, 0, "not a JSON object"),
            // Found by the safetensors fuzzer in CI: elements fit an Int, bytes do not (the
            // message used to recompute elements × 4 and trapped).
            (#"{"a":{"dtype":"F32","shape":[1641686018427387904,4],"data_offsets":[0,16]}}"#, 16, "overflows"),
            (#"{"a":{"dtype":"I64","shape":[2305843009213693952],"data_offsets":[0,16]}}"#, 16, "overflows"),
        ]
        for (json, size, fragment) in cases {
            assertThrows(try decodeSafetensors(file(json, dataSize: size), source: "w.safetensors"),
                         contains: ["w.safetensors", fragment])
        }
        assertThrows(try decodeSafetensors([1, 2, 3], source: "tiny.st"), contains: ["tiny.st", "shorter"])
        assertThrows(try decodeSafetensors([0xff, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x7d], source: "big.st"),
                     contains: ["big.st", "exceeds"])
    }

    func testJSONEscapes() throws {
        let json = #"{"na\u00efve\ud83d\ude00\/":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},"__metadata__":{"t":"tab\there"}}"#
        let decoded = try decodeSafetensors(file(json, dataSize: 8))
        XCTAssertEqual(decoded.tensors.first?.name, "naïve😀/")
        XCTAssertEqual(decoded.metadata.first?.1, "tab\there")
    }
}
