import Foundation
import Graph
import Spec

/// Reads a big-endian `UInt32` at `offset` (caller checks bounds).
@inline(__always)
private func bigEndianUInt32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
    UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
}

/// Validates the magic number and the exact size of an IDX file; returns the dimensions.
private func idxDimensions(_ bytes: [UInt8], name: String, magic: UInt32, rank: Int) throws -> [Int] {
    let headerSize = 4 + 4 * rank
    guard bytes.count >= 4 else {
        throw DataError.truncated(path: name, expectedBytes: headerSize, actualBytes: bytes.count)
    }
    let found = bigEndianUInt32(bytes, at: 0)
    guard found == magic else {
        throw DataError.badMagic(path: name, expected: magic, found: found)
    }
    guard bytes.count >= headerSize else {
        throw DataError.truncated(path: name, expectedBytes: headerSize, actualBytes: bytes.count)
    }
    var dims: [Int] = []
    var total = 1
    for i in 0..<rank {
        let d = Int(bigEndianUInt32(bytes, at: 4 + 4 * i))
        dims.append(d)
        let (product, overflow) = total.multipliedReportingOverflow(by: d)
        guard !overflow, product <= Int(Int32.max) else {
            throw DataError.badDimensions(path: name, reason: "dimensions \(dims) are too large")
        }
        total = product
    }
    let expected = headerSize + total
    if bytes.count < expected {
        throw DataError.truncated(path: name, expectedBytes: expected, actualBytes: bytes.count)
    }
    if bytes.count > expected {
        throw DataError.trailingBytes(path: name, count: bytes.count - expected)
    }
    return dims
}

/// An IDX3 image file (magic `0x00000803`): `count` images of `rows` x `cols` unsigned bytes.
public struct IDXImages: Sendable {
    /// The IDX magic number for 3-dimensional unsigned-byte data.
    public static let magic: UInt32 = 0x0000_0803

    /// Number of images.
    public let count: Int
    /// Rows per image.
    public let rows: Int
    /// Columns per image.
    public let cols: Int
    /// `count * rows * cols` pixels, image-major then row-major (0 = background).
    public let pixels: [UInt8]

    /// Creates an image set; `pixels.count` must equal `count * rows * cols`.
    public init(count: Int, rows: Int, cols: Int, pixels: [UInt8]) {
        precondition(pixels.count == count * rows * cols, "IDXImages: pixel count does not match dimensions")
        self.count = count
        self.rows = rows
        self.cols = cols
        self.pixels = pixels
    }

    /// Parses an (already decompressed) IDX3 image file.
    ///
    /// Checks the magic number, that rows and columns are non-zero, and that the byte size is
    /// exactly `16 + count * rows * cols`.
    /// - Parameter name: the file name used in error messages.
    /// - Throws: ``DataError`` naming `name`.
    public static func parse(_ bytes: [UInt8], name: String) throws -> IDXImages {
        let dims = try idxDimensions(bytes, name: name, magic: magic, rank: 3)
        guard dims[1] > 0, dims[2] > 0 else {
            throw DataError.badDimensions(path: name, reason: "images are \(dims[1])x\(dims[2])")
        }
        return IDXImages(count: dims[0], rows: dims[1], cols: dims[2], pixels: Array(bytes[16...]))
    }

    /// Reads and parses an IDX3 image file, gzip-compressed or not.
    public static func read(path: String) throws -> IDXImages {
        try parse(readMaybeGzip(path: path), name: path)
    }

    /// Serialises the images as an IDX3 file (used for tests and tooling).
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(16 + pixels.count)
        for v in [IDXImages.magic, UInt32(count), UInt32(rows), UInt32(cols)] { appendBigEndian(v, to: &out) }
        out.append(contentsOf: pixels)
        return out
    }
}

/// An IDX1 label file (magic `0x00000801`): `count` labels in `0...9`.
public struct IDXLabels: Sendable {
    /// The IDX magic number for 1-dimensional unsigned-byte data.
    public static let magic: UInt32 = 0x0000_0801

    /// Number of labels.
    public let count: Int
    /// The labels, each in `0...9`.
    public let labels: [UInt8]

    /// Creates a label set.
    public init(labels: [UInt8]) {
        self.count = labels.count
        self.labels = labels
    }

    /// Parses an (already decompressed) IDX1 label file.
    ///
    /// Checks the magic number, that the byte size is exactly `8 + count`, and that every label is ≤ 9.
    /// - Parameter name: the file name used in error messages.
    /// - Throws: ``DataError`` naming `name`.
    public static func parse(_ bytes: [UInt8], name: String) throws -> IDXLabels {
        _ = try idxDimensions(bytes, name: name, magic: magic, rank: 1)
        let labels = Array(bytes[8...])
        if let index = labels.firstIndex(where: { $0 > 9 }) {
            throw DataError.badLabel(path: name, index: index, value: labels[index])
        }
        return IDXLabels(labels: labels)
    }

    /// Reads and parses an IDX1 label file, gzip-compressed or not.
    public static func read(path: String) throws -> IDXLabels {
        try parse(readMaybeGzip(path: path), name: path)
    }

    /// Serialises the labels as an IDX1 file (used for tests and tooling).
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(8 + labels.count)
        for v in [IDXLabels.magic, UInt32(count)] { appendBigEndian(v, to: &out) }
        out.append(contentsOf: labels)
        return out
    }
}

private func appendBigEndian(_ v: UInt32, to out: inout [UInt8]) {
    out.append(UInt8(truncatingIfNeeded: v >> 24))
    out.append(UInt8(truncatingIfNeeded: v >> 16))
    out.append(UInt8(truncatingIfNeeded: v >> 8))
    out.append(UInt8(truncatingIfNeeded: v))
}
