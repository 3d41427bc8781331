import Foundation
import XCTest

/// A minimal LSP client for tests: starts `cnnc lsp`, writes framed JSON-RPC messages to its
/// stdin and collects every framed message it writes to stdout. Messages are parsed with
/// Foundation's JSONSerialization, independently of the server's own JSON code. Every wait has a
/// timeout, so a server that hangs fails the test instead of hanging it.
final class LSPClient {
    let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private let errors = Pipe()
    private let lock = NSCondition()
    private var buffer = Data()
    private var messages: [[String: Any]] = []
    /// Text that could not be read as a frame (the test fails on it).
    private(set) var junk: [String] = []
    private var stderrText = Data()
    private var nextID = 1
    private var readerDone = false

    static let timeout: TimeInterval = 20

    init() throws {
        process.executableURL = URL(fileURLWithPath: try CLI.binary())
        process.arguments = ["lsp"]
        process.currentDirectoryURL = CLI.packageRoot
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let stdout = output.fileHandleForReading
        let stderr = errors.fileHandleForReading
        Thread.detachNewThread { [weak self] in
            while true {
                let data = stdout.availableData
                guard let self else { return }
                self.lock.lock()
                if data.isEmpty {
                    self.readerDone = true
                    self.lock.broadcast()
                    self.lock.unlock()
                    return
                }
                self.buffer.append(data)
                self.parseFrames()
                self.lock.broadcast()
                self.lock.unlock()
            }
        }
        Thread.detachNewThread { [weak self] in
            while true {
                let data = stderr.availableData
                guard let self, !data.isEmpty else { return }
                self.lock.lock()
                self.stderrText.append(data)
                self.lock.unlock()
            }
        }
    }

    deinit {
        if process.isRunning {
            process.terminate()
        }
    }

    /// What the server wrote to stderr so far.
    var stderr: String {
        lock.lock()
        defer { lock.unlock() }
        return String(decoding: stderrText, as: UTF8.self)
    }

    /// Called with the lock held.
    private func parseFrames() {
        let separator = Data("\r\n\r\n".utf8)
        while let headerEnd = buffer.range(of: separator) {
            let header = String(decoding: buffer[buffer.startIndex..<headerEnd.lowerBound], as: UTF8.self)
            guard header.hasPrefix("Content-Length: "),
                  let length = Int(header.dropFirst("Content-Length: ".count)) else {
                junk.append(header)
                buffer.removeSubrange(buffer.startIndex..<headerEnd.upperBound)
                continue
            }
            let bodyStart = headerEnd.upperBound
            guard buffer.endIndex - bodyStart >= length else { return }
            let body = buffer[bodyStart..<bodyStart + length]
            if let object = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] {
                messages.append(object)
            } else {
                junk.append(String(decoding: body, as: UTF8.self))
            }
            buffer.removeSubrange(buffer.startIndex..<bodyStart + length)
        }
    }

    // MARK: - Sending

    /// Writes raw bytes to the server's stdin.
    func write(_ bytes: Data) {
        input.fileHandleForWriting.write(bytes)
    }

    /// Frames `body` with a correct Content-Length.
    func sendRaw(_ body: String) {
        let bytes = Data(body.utf8)
        write(Data("Content-Length: \(bytes.count)\r\n\r\n".utf8) + bytes)
    }

    func send(_ message: [String: Any]) throws {
        let data = try JSONSerialization.data(withJSONObject: message)
        write(Data("Content-Length: \(data.count)\r\n\r\n".utf8) + data)
    }

    func notify(_ method: String, _ params: [String: Any]) throws {
        try send(["jsonrpc": "2.0", "method": method, "params": params])
    }

    /// Sends a request and waits for the response with its id.
    @discardableResult
    func request(_ method: String, _ params: Any = [String: Any](), file: StaticString = #filePath,
                 line: UInt = #line) throws -> [String: Any] {
        let id = nextID
        nextID += 1
        try send(["jsonrpc": "2.0", "id": id, "method": method, "params": params])
        return try waitFor(file: file, line: line, "the response to \(method) (id \(id))") { ($0["id"] as? Int) == id }
    }

    /// The result of a request that must succeed.
    func result(_ method: String, _ params: Any = [String: Any](), file: StaticString = #filePath,
                line: UInt = #line) throws -> Any {
        let response = try request(method, params, file: file, line: line)
        if let error = response["error"] {
            throw CLIError("\(method) failed: \(error)")
        }
        return response["result"] ?? NSNull()
    }

    // MARK: - Receiving

    /// Removes and returns the first message matching `predicate`, waiting up to `timeout`.
    func waitFor(file: StaticString = #filePath, line: UInt = #line, _ what: String,
                 timeout: TimeInterval = LSPClient.timeout,
                 _ predicate: ([String: Any]) -> Bool) throws -> [String: Any] {
        let deadline = Date().addingTimeInterval(timeout)
        lock.lock()
        defer { lock.unlock() }
        while true {
            if let index = messages.firstIndex(where: predicate) {
                return messages.remove(at: index)
            }
            if readerDone {
                throw CLIError("the server closed its output before \(what); stderr:\n\(String(decoding: stderrText, as: UTF8.self))")
            }
            if !lock.wait(until: deadline) {
                throw CLIError("timed out after \(Int(timeout)) s waiting for \(what); unread: \(messages)")
            }
        }
    }

    /// The next `publishDiagnostics` for `uri`.
    func diagnostics(for uri: String, file: StaticString = #filePath, line: UInt = #line) throws -> [[String: Any]] {
        let message = try waitFor(file: file, line: line, "diagnostics for \(uri)") { message in
            (message["method"] as? String) == "textDocument/publishDiagnostics"
                && ((message["params"] as? [String: Any])?["uri"] as? String) == uri
        }
        let params = try XCTUnwrap(message["params"] as? [String: Any])
        return try XCTUnwrap(params["diagnostics"] as? [[String: Any]], "diagnostics must be an array")
    }

    // MARK: - Conversations

    func initialize() throws {
        _ = try result("initialize", ["processId": NSNull(), "rootUri": NSNull(), "capabilities": [String: Any]()])
        try notify("initialized", [:])
    }

    func open(_ uri: String, text: String, version: Int = 1) throws {
        try notify("textDocument/didOpen", ["textDocument": [
            "uri": uri, "languageId": "yaml", "version": version, "text": text,
        ]])
    }

    /// `shutdown` then `exit`; returns the exit status.
    func shutdown() throws -> Int32 {
        _ = try result("shutdown")
        try notify("exit", [:])
        return try waitForExit()
    }

    func waitForExit() throws -> Int32 {
        let deadline = Date().addingTimeInterval(LSPClient.timeout)
        while process.isRunning {
            if Date() > deadline {
                process.terminate()
                throw CLIError("cnnc lsp did not exit within \(Int(LSPClient.timeout)) s")
            }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return process.terminationStatus
    }

    func closeInput() {
        try? input.fileHandleForWriting.close()
    }
}

/// `{"line": l, "character": c}`.
func lspPosition(_ line: Int, _ character: Int) -> [String: Any] {
    ["line": line, "character": character]
}

extension Dictionary where Key == String, Value == Any {
    /// `range.start.line` and friends: the value at a dotted path.
    func at(_ path: String) -> Any? {
        var current: Any? = self
        for key in path.split(separator: ".") {
            if let index = Int(key), let array = current as? [Any] {
                current = index < array.count ? array[index] : nil
            } else {
                current = (current as? [String: Any])?[String(key)]
            }
        }
        return current
    }
}
