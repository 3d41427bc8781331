// libFuzzer entry for the data readers: bytes → gzip inflation (bounded) → IDX image and label
// parsers, and the MNIST checksum path. Built by `scripts/fuzz idx SECONDS`.
import Graph
import Runtime
import Spec

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzIDX(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let raw = Array(UnsafeBufferPointer(start: data, count: size))
    // A small limit keeps gzip bombs cheap while exercising the bound.
    let limit = 1 << 20
    let bytes: [UInt8]
    if isGzip(raw) {
        guard let inflated = try? gunzip(raw, name: "fuzz.gz", limit: limit) else { return 0 }
        precondition(inflated.count <= limit, "gunzip passed its limit")
        bytes = inflated
    } else {
        bytes = raw
    }
    if let images = try? IDXImages.parse(bytes, name: "fuzz") {
        precondition(images.pixels.count == images.count * images.rows * images.cols)
        precondition(images.encoded() == bytes, "IDX images do not round-trip")
    }
    if let labels = try? IDXLabels.parse(bytes, name: "fuzz") {
        precondition(labels.labels.allSatisfy { $0 <= 9 })
        precondition(labels.encoded() == bytes, "IDX labels do not round-trip")
    }
    return 0
}
