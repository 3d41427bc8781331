// libFuzzer entry for the safetensors reader (weights, checkpoints, fixtures): bytes → header JSON
// → tensors. A file it accepts must re-encode to a file it reads back the same. Built by
// `scripts/fuzz safetensors SECONDS`.
import Graph
import Runtime
import Spec

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafetensors(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let decoded = try? decodeSafetensors(bytes, source: "fuzz.safetensors") else { return 0 }
    let encoded = encodeSafetensors(decoded.tensors, metadata: decoded.metadata)
    guard let again = try? decodeSafetensors(encoded, source: "re-encoded") else {
        preconditionFailure("a decoded file does not re-encode to a readable one")
    }
    precondition(again.tensors.count == decoded.tensors.count)
    for (a, b) in zip(again.tensors, decoded.tensors) {
        precondition(a.name == b.name && a.shape == b.shape, "tensor \(b.name) changed in a round trip")
    }
    precondition(again.metadata.map(\.0) == decoded.metadata.map(\.0))
    return 0
}
