import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

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
    private func get(_ url: URL, name: String, limit: Int) throws -> [UInt8] {
        let config = URLSessionConfiguration.ephemeral
        config.timeoutIntervalForRequest = timeout
        config.timeoutIntervalForResource = deadline
        config.requestCachePolicy = .reloadIgnoringLocalCacheData
        let delegate = DownloadDelegate(name: name, limit: limit, progress: progress)
        let session = URLSession(configuration: config, delegate: delegate, delegateQueue: nil)
        defer { session.finishTasksAndInvalidate() }
        var request = URLRequest(url: url)
        request.timeoutInterval = timeout
        let task = session.dataTask(with: request)
        task.resume()
        // The session's resource timeout ends the task at the deadline; this wait is the backstop.
        let finished = delegate.done.wait(timeout: .now() + deadline + 5) == .success
        if !finished { task.cancel() }
        let outcome = delegate.outcome()
        if outcome.overLimit {
            throw MirrorFailure(reason: "\(url.absoluteString) sent more than \(limit) bytes, more than any MNIST file has; stopped")
        }
        if !finished {
            throw MirrorFailure(reason: "\(url.absoluteString) did not finish within \(Int(deadline)) s")
        }
        if let status = outcome.status, status != 200 {
            throw MirrorFailure(reason: "HTTP \(status) for \(url.absoluteString)")
        }
        if let error = outcome.error {
            throw MirrorFailure(reason: describe(error, url: url))
        }
        return outcome.body
    }

    private func describe(_ error: Error, url: URL) -> String {
        if let e = error as? URLError {
            switch e.code {
            case .cannotConnectToHost, .cannotFindHost, .dnsLookupFailed, .notConnectedToInternet,
                 .networkConnectionLost, .timedOut, .secureConnectionFailed:
                return "unreachable: \(url.absoluteString) (\(e.localizedDescription))"
            default:
                return "network error for \(url.absoluteString): \(e.localizedDescription)"
            }
        }
        return "network error for \(url.absoluteString): \(error.localizedDescription)"
    }
}

/// URLSession delegate that accumulates a response body and reports progress.
private final class DownloadDelegate: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    let done = DispatchSemaphore(value: 0)
    private let name: String
    private let limit: Int
    private var overLimit = false
    private let progress: MNISTDownloader.Progress?
    private let lock = NSLock()
    private var body: [UInt8] = []
    private var status: Int?
    private var expected: Int64?
    private var error: Error?

    init(name: String, limit: Int, progress: MNISTDownloader.Progress?) {
        self.name = name
        self.limit = limit
        self.progress = progress
    }

    func outcome() -> (body: [UInt8], status: Int?, error: Error?, overLimit: Bool) {
        lock.lock()
        defer { lock.unlock() }
        return (body, status, error, overLimit)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        let http = response as? HTTPURLResponse
        lock.lock()
        status = http?.statusCode
        expected = response.expectedContentLength >= 0 ? response.expectedContentLength : nil
        if let e = expected, e > 0, e <= limit { body.reserveCapacity(Int(e)) }
        let tooLong = expected.map { $0 > limit } ?? false
        if tooLong { overLimit = true }
        lock.unlock()
        if tooLong {
            completionHandler(.cancel)
            done.signal()
        } else if let code = http?.statusCode, code != 200 {
            completionHandler(.cancel)
        } else {
            completionHandler(.allow)
        }
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        lock.lock()
        guard !overLimit else {
            lock.unlock()
            return
        }
        if body.count + data.count > limit {
            overLimit = true
            body = []
            lock.unlock()
            dataTask.cancel()
            done.signal()  // the transfer is over for us, whether or not the session reports the cancel
            return
        }
        body.append(contentsOf: data)
        let soFar = Int64(body.count)
        let total = expected
        lock.unlock()
        progress?(name, soFar, total)
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        lock.lock()
        self.error = error
        lock.unlock()
        done.signal()
    }
}
