import CZlib
import Foundation
import Graph
import Spec

/// Returns `true` when `bytes` starts with the gzip magic number `1f 8b`.
public func isGzip(_ bytes: [UInt8]) -> Bool {
    bytes.count >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b
}

/// Reads the file at `path`, inflating it when it is gzip-compressed.
///
/// A file that starts with the gzip magic `1f 8b` is decompressed with zlib (concatenated
/// members are supported); any other file is returned unchanged.
///
/// Neither the file nor its decompressed contents may pass `limit` bytes.
///
/// - Throws: ``DataError/cannotRead(path:reason:)``, ``DataError/corruptGzip(path:reason:)``,
///   ``DataError/truncatedGzip(path:)`` or ``DataError/tooLarge(path:limit:)``, all naming `path`.
public func readMaybeGzip(path: String, limit: Int = maxDataFileBytes) throws -> [UInt8] {
    let raw = try readFileBytes(path: path, limit: limit)
    return isGzip(raw) ? try gunzip(raw, name: path, limit: limit) : raw
}

/// Decompresses a gzip (or zlib) stream held in memory.
///
/// - Parameters:
///   - input: the compressed bytes; several concatenated gzip members are decoded one after the
///     other, and trailing zero padding is ignored.
///   - name: the file name used in error messages.
///   - limit: the most bytes the output may have; inflation stops with
///     ``DataError/tooLarge(path:limit:)`` as soon as it would pass them (a gzip bomb).
/// - Throws: ``DataError/corruptGzip(path:reason:)``, ``DataError/truncatedGzip(path:)`` or
///   ``DataError/tooLarge(path:limit:)``.
public func gunzip(_ input: [UInt8], name: String, limit: Int = maxDataFileBytes) throws -> [UInt8] {
    guard input.count <= Int(UInt32.max) else {
        throw DataError.corruptGzip(path: name, reason: "compressed file larger than 4 GiB is not supported")
    }
    // Capacity hint: the gzip trailer stores the uncompressed size modulo 2^32.
    var hint = 1 << 16
    if isGzip(input), input.count >= 18 {
        let n = input.count
        let isize = Int(input[n - 4]) | Int(input[n - 3]) << 8 | Int(input[n - 2]) << 16 | Int(input[n - 1]) << 24
        // Deflate cannot expand more than ~1032:1, so a larger ISIZE means a damaged trailer.
        hint = min(max(isize, hint), 1 << 30, input.count * 1032)
    }
    // Room for one byte past the limit, so that an output over it is seen.
    hint = min(hint, limit + 1)
    var stream = z_stream()
    let initStatus = inflateInit2_(&stream, 15 + 32, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
    guard initStatus == Z_OK else {
        throw DataError.corruptGzip(path: name, reason: "zlib initialisation failed (code \(initStatus))")
    }
    defer { inflateEnd(&stream) }

    var output = [UInt8](repeating: 0, count: hint)
    var produced = 0
    try input.withUnsafeBufferPointer { inBuf in
        guard let inBase = inBuf.baseAddress else {
            throw DataError.truncatedGzip(path: name)
        }
        stream.next_in = UnsafeMutablePointer(mutating: inBase)
        stream.avail_in = uInt(inBuf.count)
        while true {
            if produced > limit {
                throw DataError.tooLarge(path: name, limit: limit)
            }
            if produced == output.count {
                output.append(contentsOf: repeatElement(0, count: min(output.count, limit + 1 - produced)))
            }
            let status = output.withUnsafeMutableBufferPointer { outBuf -> Int32 in
                guard let outBase = outBuf.baseAddress else { return Z_MEM_ERROR }
                let room = min(outBuf.count - produced, Int(UInt32.max))
                stream.next_out = outBase + produced
                stream.avail_out = uInt(room)
                let result = inflate(&stream, Z_NO_FLUSH)
                produced += room - Int(stream.avail_out)
                return result
            }
            if produced > limit {
                throw DataError.tooLarge(path: name, limit: limit)
            }
            switch status {
            case Z_OK:
                continue
            case Z_STREAM_END:
                let remaining = Int(stream.avail_in)
                if remaining == 0 { return }
                let rest = inBuf[(inBuf.count - remaining)...]
                if rest.count >= 2, rest[rest.startIndex] == 0x1f, rest[rest.startIndex + 1] == 0x8b {
                    // Another gzip member follows.
                    guard inflateReset(&stream) == Z_OK else {
                        throw DataError.corruptGzip(path: name, reason: "cannot reset zlib stream")
                    }
                    continue
                }
                if rest.allSatisfy({ $0 == 0 }) { return }
                throw DataError.corruptGzip(path: name, reason: "\(remaining) bytes of trailing garbage after the compressed data")
            case Z_BUF_ERROR:
                // Output space is always available here, so no progress means the input ran out.
                throw DataError.truncatedGzip(path: name)
            case Z_NEED_DICT:
                throw DataError.corruptGzip(path: name, reason: "stream requires a preset dictionary")
            case Z_MEM_ERROR:
                throw DataError.corruptGzip(path: name, reason: "out of memory while decompressing")
            default:
                let message = stream.msg.map { String(cString: $0) } ?? "zlib error \(status)"
                throw DataError.corruptGzip(path: name, reason: message)
            }
        }
    }
    output.removeSubrange(produced...)
    return output
}
