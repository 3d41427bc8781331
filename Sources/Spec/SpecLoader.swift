#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The outcome of reading and decoding one spec file.
public struct SpecParseResult: Sendable {
    /// The text that was parsed (empty when the file could not be read).
    public var source: SourceFile
    /// The decoded spec; nil when any error was found.
    public var spec: ModelSpec?
    /// Every problem found, sorted by location (problems without a location first); at most
    /// `maxDiagnostics` of them, then one location-less error counting the rest.
    public var diagnostics: [Diagnostic]

    public init(source: SourceFile, spec: ModelSpec?, diagnostics: [Diagnostic]) {
        self.source = source
        self.spec = spec
        self.diagnostics = diagnostics
    }

    /// True when at least one diagnostic is an error.
    public var hasErrors: Bool {
        diagnostics.contains { $0.severity == .error }
    }

    /// All diagnostics rendered with `SourceFile.render`, concatenated.
    public var renderedDiagnostics: String {
        diagnostics.map { source.render($0) }.joined()
    }
}

/// The most diagnostics one spec reports (the first ones found); the rest are counted.
public let maxDiagnostics = 100

/// The largest spec file cnnc reads: 1 MiB.
public let maxSpecFileSize = 1 << 20

/// Parses and decodes the spec in `source`. The default model name is the file name
/// without its extension. Never crashes on bad input.
public func parseSpec(_ source: SourceFile) -> SpecParseResult {
    let parsed = YAMLParser.parse(source.text)
    guard let root = parsed.root else {
        return SpecParseResult(source: source, spec: nil, diagnostics: sortedDiagnostics(parsed.diagnostics))
    }
    var decoder = SpecDecoder(defaultName: modelName(fromPath: source.path), source: source)
    let spec = decoder.decode(root)
    var diagnostics = sortedDiagnostics(parsed.diagnostics + decoder.diagnostics)
    let failed = diagnostics.contains { $0.severity == .error }
    if diagnostics.count > maxDiagnostics || decoder.omittedCount > 0 {
        let hidden = max(0, diagnostics.count - maxDiagnostics) + decoder.omittedCount
        diagnostics = Array(diagnostics.prefix(maxDiagnostics))
        diagnostics.append(.error(at: nil, "\(hidden) more problem\(hidden == 1 ? "" : "s") not shown; fix these first"))
    }
    return SpecParseResult(source: source, spec: failed ? nil : spec, diagnostics: diagnostics)
}

/// Reads the file at `path` and parses it with `parseSpec`.
///
/// Files that cannot be read, are larger than 1 MiB, or are not UTF-8 text produce a single
/// location-less error and are not parsed.
public func loadSpec(path: String) -> SpecParseResult {
    let empty = SourceFile(path: path, text: "")
    switch readSpecFile(path) {
    case .failure(let diagnostic):
        return SpecParseResult(source: empty, spec: nil, diagnostics: [diagnostic])
    case .success(let bytes):
        return parseSpec(path: path, bytes: bytes)
    }
}

/// Parses spec bytes held in memory (an editor's buffer) exactly as `loadSpec` parses a file with
/// those bytes: over 1 MiB, a NUL byte or invalid UTF-8 give the same single error.
public func parseSpec(path: String, bytes: [UInt8]) -> SpecParseResult {
    let empty = SourceFile(path: path, text: "")
    if bytes.count > maxSpecFileSize {
        return SpecParseResult(source: empty, spec: nil, diagnostics: [tooLarge("is \(bytes.count) bytes")])
    }
    if bytes.contains(0) {
        return SpecParseResult(source: empty, spec: nil, diagnostics: [notText])
    }
    let text = String(decoding: bytes, as: UTF8.self)
    guard text.utf8.elementsEqual(bytes) else {
        return SpecParseResult(source: empty, spec: nil, diagnostics: [notText])
    }
    return parseSpec(SourceFile(path: path, text: text))
}

private let notText = Diagnostic.error(at: nil, "file is not UTF-8 text (binary?)")

/// `dir/mnist-cnn.yaml` → `mnist-cnn`.
func modelName(fromPath path: String) -> String {
    let file = path.split(separator: "/").last.map(String.init) ?? path
    guard let dot = file.lastIndex(of: "."), dot != file.startIndex else {
        return file
    }
    return String(file[..<dot])
}

/// Stable sort: location-less diagnostics first, then by line and column.
public func sortedDiagnostics(_ diagnostics: [Diagnostic]) -> [Diagnostic] {
    let indexed = diagnostics.enumerated().sorted { a, b in
        switch (a.element.location, b.element.location) {
        case (nil, nil):
            return a.offset < b.offset
        case (nil, _):
            return true
        case (_, nil):
            return false
        case (let left?, let right?):
            if left != right {
                return left < right
            }
            return a.offset < b.offset
        }
    }
    return indexed.map(\.element)
}

private enum ReadOutcome {
    case success([UInt8])
    case failure(Diagnostic)
}

/// Reads the whole file with POSIX calls so the failure reason is the system's own words.
private func readSpecFile(_ path: String) -> ReadOutcome {
    // Non-blocking, so that opening a FIFO does not wait for a writer; only regular files are read.
    let descriptor = open(path, O_RDONLY | O_NONBLOCK)
    guard descriptor >= 0 else {
        return .failure(cannotRead(errno))
    }
    defer { close(descriptor) }
    var info = stat()
    guard fstat(descriptor, &info) == 0 else {
        return .failure(cannotRead(errno))
    }
    if (info.st_mode & S_IFMT) == S_IFDIR {
        return .failure(cannotRead(EISDIR))
    }
    if (info.st_mode & S_IFMT) != S_IFREG {
        return .failure(.error(at: nil, "cannot read file: not a regular file (a FIFO, device or socket)"))
    }
    _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) & ~O_NONBLOCK)
    let size = Int(info.st_size)
    if size > maxSpecFileSize {
        return .failure(tooLarge("is \(size) bytes"))
    }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 64 * 1024)
    while true {
        let count = chunk.withUnsafeMutableBytes { buffer in
            read(descriptor, buffer.baseAddress, buffer.count)
        }
        if count < 0 {
            if errno == EINTR {
                continue
            }
            return .failure(cannotRead(errno))
        }
        if count == 0 {
            break
        }
        bytes.append(contentsOf: chunk[0..<count])
        if bytes.count > maxSpecFileSize {
            return .failure(tooLarge("has more than \(maxSpecFileSize) bytes"))
        }
    }
    return .success(bytes)
}

private func cannotRead(_ code: Int32) -> Diagnostic {
    let reason = strerror(code).map { String(cString: $0) } ?? "error \(code)"
    return .error(at: nil, "cannot read file: \(reason)")
}

/// The error for a file over `maxSpecFileSize`, in exact bytes (1 MiB + 1 byte rounds to "1.0 MB").
private func tooLarge(_ size: String) -> Diagnostic {
    .error(at: nil, "file \(size); a spec must be at most 1 MiB (\(maxSpecFileSize) bytes)")
}
