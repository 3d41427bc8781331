import Foundation
import Graph
import Spec

/// Errors raised while reading, verifying or downloading training data.
///
/// Every message names the file (or directory) involved so that it can be shown to users directly.
public enum DataError: Error, CustomStringConvertible {
    /// A file could not be opened or read.
    case cannotRead(path: String, reason: String)
    /// A file or directory could not be created or written.
    case cannotWrite(path: String, reason: String)
    /// A gzip stream is malformed (bad header, bad deflate data, CRC mismatch, trailing garbage).
    case corruptGzip(path: String, reason: String)
    /// A gzip stream ends before its end-of-stream marker.
    case truncatedGzip(path: String)
    /// An IDX file's magic number is not the expected one.
    case badMagic(path: String, expected: UInt32, found: UInt32)
    /// An IDX file is shorter than its header says.
    case truncated(path: String, expectedBytes: Int, actualBytes: Int)
    /// An IDX file is longer than its header says.
    case trailingBytes(path: String, count: Int)
    /// An IDX header declares dimensions that are invalid (zero rows, overflow, unexpected sizes).
    case badDimensions(path: String, reason: String)
    /// A label is outside `0...9`.
    case badLabel(path: String, index: Int, value: UInt8)
    /// The SHA-256 of a file's decompressed contents differs from the expected one; `contents`
    /// says what the file holds instead when that is recognisable (empty, another MNIST file).
    case checksumMismatch(path: String, expected: String, actual: String, contents: String?)
    /// A file, or its decompressed contents, is larger than the file it should be can be.
    case tooLarge(path: String, limit: Int)
    /// A required data file is not present in a directory.
    case missingFile(directory: String, stem: String, tried: [String])
    /// Images and labels of a split disagree, or a count differs from the expected one.
    case inconsistent(path: String, reason: String)
    /// Every mirror failed for a file; `attempts` holds one `(mirror, reason)` pair per mirror tried.
    case downloadFailed(file: String, attempts: [(mirror: String, reason: String)])

    public var description: String {
        switch self {
        case let .cannotRead(path, reason):
            return "cannot read '\(path)': \(reason)"
        case let .cannotWrite(path, reason):
            return "cannot write '\(path)': \(reason)"
        case let .corruptGzip(path, reason):
            return "'\(path)' is not a valid gzip file: \(reason)"
        case let .truncatedGzip(path):
            return "'\(path)' is a truncated gzip file (the compressed stream ends early)"
        case let .badMagic(path, expected, found):
            return "'\(path)' has magic number \(hex32(found)), expected \(hex32(expected)) (not an IDX file of the right kind)"
        case let .truncated(path, expectedBytes, actualBytes):
            return "'\(path)' is truncated: its header implies \(expectedBytes) bytes but it has \(actualBytes)"
        case let .trailingBytes(path, count):
            return "'\(path)' has \(count) trailing bytes after the data its header describes"
        case let .badDimensions(path, reason):
            return "'\(path)' has invalid dimensions: \(reason)"
        case let .badLabel(path, index, value):
            return "'\(path)': label \(index) is \(value), expected 0...9"
        case let .checksumMismatch(path, expected, actual, contents):
            let what = contents.map { "; \($0)" } ?? " (the file is corrupt or not the canonical MNIST file)"
            return "checksum mismatch for '\(path)': expected SHA-256 \(expected), got \(actual)\(what). "
                + "Replace it with `cnnc download --force --data DIR`, or delete it and run `cnnc download`"
        case let .tooLarge(path, limit):
            return "'\(path)' is larger than \(limit) bytes, more than the file it should be can hold (refused before reading or inflating further)"
        case let .missingFile(directory, stem, tried):
            return "MNIST file '\(stem)' not found in '\(directory)' (looked for \(tried.map { "'\($0)'" }.joined(separator: ", "))); run `cnnc download --data DIR` to fetch it, or point --data (or $CNNC_DATA) at a directory that holds it"
        case let .inconsistent(path, reason):
            return "'\(path)': \(reason)"
        case let .downloadFailed(file, attempts):
            let lines = attempts.map { "  \($0.mirror): \($0.reason)" }.joined(separator: "\n")
            return "could not download '\(file)' from any mirror:\n" + (attempts.isEmpty ? "  (no mirrors configured)" : lines)
        }
    }
}

private func hex32(_ v: UInt32) -> String {
    let s = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, 8 - s.count)) + s
}

/// The most bytes a data file, or its decompressed contents, may have when the caller knows no
/// tighter bound (1 GiB; the MNIST readers pass each file's exact size).
public let maxDataFileBytes = 1 << 30

/// Reads a whole regular file into memory. FIFOs, devices (`/dev/zero`), sockets and directories
/// are refused without reading (a FIFO is opened non-blocking, so no writer is waited for), and a
/// file larger than `limit` bytes is refused.
///
/// - Throws: ``DataError/cannotRead(path:reason:)`` naming `path` with the system's reason, or
///   ``DataError/tooLarge(path:limit:)``.
public func readFileBytes(path: String, limit: Int = maxDataFileBytes) throws -> [UInt8] {
    let fd = open(path, O_RDONLY | O_NONBLOCK)
    if fd < 0 { throw DataError.cannotRead(path: path, reason: String(cString: strerror(errno))) }
    defer { close(fd) }
    var st = stat()
    if fstat(fd, &st) != 0 { throw DataError.cannotRead(path: path, reason: String(cString: strerror(errno))) }
    if (st.st_mode & S_IFMT) == S_IFDIR { throw DataError.cannotRead(path: path, reason: "is a directory") }
    if (st.st_mode & S_IFMT) != S_IFREG {
        throw DataError.cannotRead(path: path, reason: "not a regular file (a FIFO, device or socket)")
    }
    if Int(st.st_size) > limit { throw DataError.tooLarge(path: path, limit: limit) }
    _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
    var bytes = [UInt8](repeating: 0, count: max(Int(st.st_size), 0))
    var filled = 0
    while true {
        if filled == bytes.count {
            // The file may have grown (or st_size was 0 for a special file): keep reading.
            bytes.append(contentsOf: repeatElement(0, count: max(65536, bytes.count)))
        }
        let n = bytes.withUnsafeMutableBytes { raw -> Int in
            guard let base = raw.baseAddress else { return 0 }
            return read(fd, base + filled, raw.count - filled)
        }
        if n < 0 {
            if errno == EINTR { continue }
            throw DataError.cannotRead(path: path, reason: String(cString: strerror(errno)))
        }
        if n == 0 { break }
        filled += n
        if filled > limit { throw DataError.tooLarge(path: path, limit: limit) }
    }
    bytes.removeSubrange(filled...)
    return bytes
}
