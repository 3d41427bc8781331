import CCurl
import Foundation
import Graph
import Spec

/// Downloads missing MNIST files from a list of mirrors, verifying each one before it is put in place.
///
/// For every file absent from the target directory (neither `STEM.gz` nor `STEM` present) the
/// mirrors are tried in order: `MIRROR + STEM.gz` is fetched into a temporary file in the target
/// directory, decompressed, its SHA-256 checked against ``MNISTFile/sha256``, and only then
/// renamed atomically to `STEM.gz`. A mirror that is unreachable, answers with an HTTP error or
/// serves a corrupt file is skipped; if every mirror fails the error lists each failure.
public struct MNISTDownloader {
    /// Called as bytes arrive: file name (`STEM.gz`), bytes received so far, total size if known.
    /// It is invoked on a URLSession delegate queue, never concurrently for one downloader.
    public typealias Progress = (_ file: String, _ bytesSoFar: Int64, _ total: Int64?) -> Void

    /// The mirrors used when none are configured.
    public static let defaultMirrors: [String] = [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ]

    /// Base URLs tried in order; each is joined with `STEM.gz`.
    public let mirrors: [String]
    /// Timeout in seconds for each request (applies to connection and to idle periods).
    public let timeout: TimeInterval
    /// Seconds one file's download may take in all, however steadily bytes trickle in.
    public let deadline: TimeInterval
    /// Progress callback, or `nil` for silence.
    public let progress: Progress?

    /// Creates a downloader.
    /// - Parameters:
    ///   - mirrors: base URLs to try in order (a missing trailing `/` is added).
    ///   - timeout: per-request timeout in seconds (default 30).
    ///   - deadline: seconds one file may take in all (default 600).
    ///   - progress: optional progress callback.
    public init(mirrors: [String] = MNISTDownloader.defaultMirrors, timeout: TimeInterval = 30, deadline: TimeInterval = 600,
                progress: Progress? = nil) {
        self.mirrors = mirrors.map { $0.hasSuffix("/") ? $0 : $0 + "/" }
        self.timeout = timeout
        self.deadline = deadline
        self.progress = progress
    }

    /// Resolves the mirror list: the `--mirror URL` flags if any, else `$CNNC_MNIST_MIRROR`
    /// (several URLs may be separated by commas or whitespace), else ``defaultMirrors``.
    public static func resolveMirrors(flags: [String], environment: [String: String]) -> [String] {
        let fromFlags = flags.filter { !$0.isEmpty }
        if !fromFlags.isEmpty { return fromFlags }
        if let env = environment["CNNC_MNIST_MIRROR"] {
            let list = env.split(whereSeparator: { $0 == "," || $0.isWhitespace }).map(String.init)
            if !list.isEmpty { return list }
        }
        return defaultMirrors
    }

    /// Downloads every file of `files` missing from `directory` (created if needed).
    ///
    /// - Returns: the stems of the files that were downloaded (empty when all were present).
    /// - Throws: ``DataError/downloadFailed(file:attempts:)`` listing every mirror's failure,
    ///   or ``DataError/cannotWrite(path:reason:)`` when the directory is unusable.
    @discardableResult
    public func downloadMissing(into directory: String, files: [MNISTFile] = MNISTFile.all) throws -> [String] {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw DataError.cannotWrite(path: directory, reason: "\(error.localizedDescription)")
        }
        var downloaded: [String] = []
        for file in files where file.locate(in: directory) == nil {
            try download(file, into: directory)
            downloaded.append(file.stem)
        }
        return downloaded
    }

    /// Downloads one file into `directory` as `STEM.gz`, trying each mirror in turn.
    ///
    /// - Throws: ``DataError/downloadFailed(file:attempts:)`` when every mirror failed.
    public func download(_ file: MNISTFile, into directory: String) throws {
        var attempts: [(mirror: String, reason: String)] = []
        for mirror in mirrors {
            do {
                try fetch(file, from: mirror, into: directory)
                return
            } catch let failure as MirrorFailure {
                attempts.append((mirror, failure.reason))
            } catch let error as DataError {
                if case .cannotWrite = error { throw error }
                attempts.append((mirror, error.description))
            }
        }
        throw DataError.downloadFailed(file: file.gzipName, attempts: attempts)
    }

    private struct MirrorFailure: Error {
        let reason: String
    }

    private func fetch(_ file: MNISTFile, from mirror: String, into directory: String) throws {
        guard let url = URL(string: mirror + file.gzipName), url.scheme != nil else {
            throw MirrorFailure(reason: "invalid URL '\(mirror + file.gzipName)'")
        }
        // No MNIST file, compressed or not, is larger than the largest decompressed one.
        let body = try get(url, name: file.gzipName, limit: MNISTFile.readLimit)

        let finalPath = joinPath(directory, file.gzipName)
        let tempPath = joinPath(directory, ".\(file.gzipName).download-\(UUID().uuidString)")
        var keepTemp = false
        // Removed on every failure, including a write that fails half-way (a full disk).
        defer { if !keepTemp { unlink(tempPath) } }
        do {
            try Data(body).write(to: URL(fileURLWithPath: tempPath))
        } catch {
            throw DataError.cannotWrite(path: finalPath, reason: "\(error.localizedDescription) (while writing it to a temporary file in '\(directory)', now removed)")
        }

        let contents: [UInt8]
        do {
            contents = isGzip(body) ? try gunzip(body, name: url.absoluteString, limit: MNISTFile.readLimit) : body
        } catch let error as DataError {
            throw MirrorFailure(reason: "corrupt download: \(error.description)")
        }
        let actual = sha256Hex(contents)
        guard actual == file.sha256 else {
            throw MirrorFailure(reason: "checksum mismatch for \(url.absoluteString): expected SHA-256 \(file.sha256), got \(actual)")
        }
        guard rename(tempPath, finalPath) == 0 else {
            throw DataError.cannotWrite(path: finalPath, reason: String(cString: strerror(errno)))
        }
        keepTemp = true
    }

    /// Performs a blocking GET, reporting progress; returns the body of a 200 response. A body
    /// longer than `limit` bytes, or a download past `deadline` seconds, is cut off as a failure.
    ///
    /// HTTP goes through libcurl, opened with dlopen here rather than linked (Sources/CCurl/shim.h
    /// says why: it halves every cnnc process's start-up).
    private func get(_ url: URL, name: String, limit: Int) throws -> [UInt8] {
        var api = cnnc_curl()
        if let reason = cnnc_curl_load(&api) {
            throw MirrorFailure(reason: "cannot download \(url.absoluteString): libcurl is not available "
                                + "(\(String(cString: reason)); Debian: apt-get install libcurl4)")
        }
        let transfer = Transfer(name: name, limit: limit, progress: progress)
        let context = Unmanaged.passRetained(transfer)
        defer { context.release() }
        var status = 0
        var length: Int64 = -1
        var error = [CChar](repeating: 0, count: 512)
        let seconds = max(1, Int(timeout.rounded(.up)))
        let total = max(1, Int(deadline.rounded(.up)))
        let code = cnnc_curl_get(&api, url.absoluteString, seconds, seconds, total, { data, size, count, context in
            guard let data, let context else { return 0 }
            let transfer = Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue()
            // Returning less than was given makes libcurl abort the transfer (CURLE_WRITE_ERROR).
            guard transfer.body.count + size * count <= transfer.limit else {
                transfer.overLimit = true
                return 0
            }
            transfer.body.append(contentsOf: UnsafeRawBufferPointer(start: data, count: size * count))
            transfer.report()
            return size * count
        }, { context, total, _, _, _ in
            guard let context else { return 0 }
            let transfer = Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue()
            if total > 0 { transfer.expected = total }
            // A non-zero return aborts: a server announcing more than any MNIST file has.
            if total > Int64(transfer.limit) {
                transfer.overLimit = true
                return 1
            }
            return 0
        }, context.toOpaque(), &status, &length, &error)
        if transfer.overLimit {
            throw MirrorFailure(reason: "\(url.absoluteString) sent more than \(limit) bytes, more than any MNIST file has; stopped")
        }
        if code != 0 {
            let detail = String(cString: error)
            let words = !detail.isEmpty ? detail : api.easy_strerror?(code).map { String(cString: $0) } ?? "error \(code)"
            // CURLE_OPERATION_TIMEDOUT after the whole deadline: the file took too long in all.
            if code == 28 && !detail.contains("onnect") && !detail.contains("slower than") {
                throw MirrorFailure(reason: "\(url.absoluteString) did not finish within \(total) s (\(words))")
            }
            // Resolving, connecting, TLS set-up, timeouts, empty or failed replies.
            let unreachable: Set<Int32> = [5, 6, 7, 28, 35, 52, 55, 56]
            throw MirrorFailure(reason: unreachable.contains(code)
                                ? "unreachable: \(url.absoluteString) (\(words))"
                                : "network error for \(url.absoluteString): \(words)")
        }
        if status != 200 {
            throw MirrorFailure(reason: "HTTP \(status) for \(url.absoluteString)")
        }
        if length >= 0 { transfer.expected = length }
        transfer.report()
        return transfer.body
    }
}

/// The state of one GET: the body so far, the size the server announced, and whether it went past
/// the limit.
private final class Transfer {
    let name: String
    let limit: Int
    let progress: MNISTDownloader.Progress?
    var body: [UInt8] = []
    var expected: Int64?
    var overLimit = false

    init(name: String, limit: Int, progress: MNISTDownloader.Progress?) {
        self.name = name
        self.limit = limit
        self.progress = progress
    }

    func report() {
        progress?(name, Int64(body.count), expected)
    }
}
