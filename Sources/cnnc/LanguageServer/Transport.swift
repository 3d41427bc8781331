import Foundation
import Graph
import Runtime
import Spec

/// The base protocol of LSP: messages framed by a `Content-Length: N` header, a blank line
/// (`\r\n\r\n`) and N bytes of JSON. Reads and writes raw file descriptors, so no buffering layer
/// can hold a reply back.
struct MessageReader {
    /// What one read produced.
    enum Frame {
        /// A complete body.
        case message([UInt8])
        /// A frame that could not be read (a missing or bad `Content-Length`, a body over the
        /// size limit); the reader has skipped it and can go on.
        case malformed(String)
        /// End of input (or a read error), possibly in the middle of a frame.
        case end
    }

    /// Bodies larger than this are skipped (with `.malformed`) instead of being held in memory.
    static let maxBodySize = 64 << 20
    /// A header section longer than this without a blank line is junk.
    static let maxHeaderSize = 64 << 10

    let descriptor: Int32
    private var buffer: [UInt8] = []
    private var start = 0
    private var atEnd = false

    init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    mutating func next() -> Frame {
        // Headers: lines up to an empty line. `\n` alone is accepted as a line end too.
        var contentLength: Int?
        var problem: String?
        var headerBytes = 0
        while true {
            guard let line = readLine() else { return .end }
            headerBytes += line.count + 1
            if headerBytes > Self.maxHeaderSize {
                problem = "header section longer than \(Self.maxHeaderSize) bytes"
                skipToBlankLine()
                break
            }
            if line.isEmpty {
                if contentLength == nil && problem == nil && headerBytes == 1 {
                    headerBytes = 0
                    continue  // a stray blank line between messages
                }
                break
            }
            var text = String(decoding: line, as: UTF8.self)
            // Junk before a header (the unframed rest of a bad message): resume at the header.
            if let header = text.range(of: "content-length:", options: .caseInsensitive), header.lowerBound != text.startIndex {
                text = String(text[header.lowerBound...])
            }
            guard let colon = text.firstIndex(of: ":") else {
                problem = problem ?? "malformed header line '\(text.prefix(80))'"
                continue
            }
            let name = text[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
            let value = text[text.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if name == "content-length" {
                guard let length = Int(value), length >= 0 else {
                    problem = problem ?? "invalid Content-Length '\(value.prefix(40))'"
                    continue
                }
                contentLength = length
            }
        }
        if let problem {
            if let contentLength, contentLength <= Self.maxBodySize {
                _ = readBytes(contentLength)
            }
            return .malformed(problem)
        }
        guard let length = contentLength else {
            return .malformed("missing Content-Length header")
        }
        if length > Self.maxBodySize {
            guard discardBytes(length) else { return .end }
            return .malformed("message of \(length) bytes is over the limit of \(Self.maxBodySize)")
        }
        guard let body = readBytes(length) else { return .end }
        return .message(body)
    }

    /// One header line without its `\r\n` (or `\n`); nil at end of input.
    private mutating func readLine() -> [UInt8]? {
        while true {
            if let newline = buffer[start...].firstIndex(of: UInt8(ascii: "\n")) {
                var end = newline
                if end > start, buffer[end - 1] == UInt8(ascii: "\r") { end -= 1 }
                let line = Array(buffer[start..<end])
                start = newline + 1
                return line
            }
            if buffer.count - start > Self.maxHeaderSize {
                // No line end in sight: hand back what there is as one overlong line.
                let line = Array(buffer[start...])
                start = buffer.count
                return line
            }
            guard fill() else { return nil }
        }
    }

    private mutating func skipToBlankLine() {
        while let line = readLine(), !line.isEmpty {}
    }

    private mutating func readBytes(_ count: Int) -> [UInt8]? {
        while buffer.count - start < count {
            guard fill() else { return nil }
        }
        let bytes = Array(buffer[start..<start + count])
        start += count
        return bytes
    }

    /// Skips `count` bytes without holding them; false at end of input.
    private mutating func discardBytes(_ count: Int) -> Bool {
        var left = count
        while left > 0 {
            if start == buffer.count {
                guard fill() else { return false }
            }
            let taken = min(left, buffer.count - start)
            start += taken
            left -= taken
        }
        return true
    }

    /// Reads more input; false at end of input or on a read error.
    private mutating func fill() -> Bool {
        if atEnd { return false }
        if start > 0 {
            buffer.removeFirst(start)
            start = 0
        }
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 {
                atEnd = true
                return false
            }
            buffer.append(contentsOf: chunk[0..<count])
            return true
        }
    }
}

/// Writes framed messages to a file descriptor.
struct MessageWriter {
    let descriptor: Int32

    /// Writes one message; false when the other side has gone away.
    @discardableResult
    func send(_ message: JSON) -> Bool {
        let body = Array(message.rendered().utf8)
        let bytes = Array("Content-Length: \(body.count)\r\n\r\n".utf8) + body
        var written = 0
        while written < bytes.count {
            let count = bytes[written...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { return false }
            written += count
        }
        return true
    }
}
