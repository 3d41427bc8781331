import Foundation
import Graph
import Spec

/// Writes `bytes` to `path` atomically: the data goes to a temporary file in the same directory,
/// is flushed to disk, and is then renamed over `path`, so readers see either the old file or the
/// complete new one, never a partial write.
///
/// - Throws: ``FormatError/cannotWrite(path:reason:)`` naming the file.
public func writeFileAtomically(_ bytes: [UInt8], to path: String) throws {
    let url = URL(fileURLWithPath: path)
    let directory = url.deletingLastPathComponent().path
    let tempPath = (directory.hasSuffix("/") ? directory : directory + "/")
        + ".\(url.lastPathComponent).tmp-\(UUID().uuidString)"
    func failure(_ what: String) -> FormatError {
        FormatError.cannotWrite(path: path, reason: "\(what): \(String(cString: strerror(errno)))")
    }
    let fd = open(tempPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw failure("cannot create temporary file '\(tempPath)'") }
    var renamed = false
    defer { if !renamed { unlink(tempPath) } }
    var written = 0
    let writeError: FormatError? = bytes.withUnsafeBytes { raw -> FormatError? in
        guard let base = raw.baseAddress else { return nil }
        while written < raw.count {
            let n = write(fd, base + written, raw.count - written)
            if n < 0 {
                if errno == EINTR { continue }
                return failure("write failed")
            }
            written += n
        }
        return nil
    }
    if let writeError {
        close(fd)
        throw writeError
    }
    if fsync(fd) != 0 {
        let err = failure("fsync failed")
        close(fd)
        throw err
    }
    guard close(fd) == 0 else { throw failure("close failed") }
    guard rename(tempPath, path) == 0 else { throw failure("rename failed") }
    renamed = true
}
