import Graph
import Runtime
import Spec

/// `cnnc lsp`: a Language Server (LSP 3.17, JSON-RPC 2.0) for cnnc specs.
///
/// One thread reads a message, handles it and writes the replies before reading the next, so
/// replies come in request order and a `didChange` is analysed before the next request sees the
/// document. Open documents live in memory only; nothing is read from disk. Every answer comes
/// from the pure queries in Spec and Graph (`SpecAnalysis`, `CompletionContext`, `SpecOutline`).
final class LanguageServer {
    /// JSON-RPC and LSP error codes.
    enum ErrorCode: Int {
        case parseError = -32700
        case invalidRequest = -32600
        case methodNotFound = -32601
        case invalidParams = -32602
        case serverNotInitialized = -32002
        case requestFailed = -32803
    }

    /// A request that cannot be answered with a result.
    struct Failure: Error {
        var code: ErrorCode
        var message: String
    }

    private enum State {
        case uninitialized
        case running
        case shutDown
    }

    private var state = State.uninitialized
    private var documents: [String: OpenDocument] = [:]
    private let send: (JSON) -> Void
    /// Set by `exit`: the process's exit status.
    private(set) var exitStatus: Int32?

    init(send: @escaping (JSON) -> Void) {
        self.send = send
    }

    /// Serves stdin/stdout until `exit` or the end of input; returns the exit status (0 after
    /// `shutdown`, else 1, as LSP asks).
    static func serveStandardStreams() -> Int32 {
        let writer = MessageWriter(descriptor: 1)
        var reader = MessageReader(descriptor: 0)
        let server = LanguageServer { writer.send($0) }
        while server.exitStatus == nil {
            switch reader.next() {
            case let .message(body):
                server.receive(body)
            case let .malformed(reason):
                server.reply(id: .null, error: Failure(code: .parseError, message: reason))
            case .end:
                return server.state == .shutDown ? 0 : 1
            }
        }
        return server.exitStatus ?? 1
    }

    // MARK: - Dispatch

    /// Handles one message body.
    func receive(_ body: [UInt8]) {
        let message: JSON
        do {
            message = try JSON.parse(body)
        } catch {
            reply(id: .null, error: Failure(code: .parseError, message: "invalid JSON: \(error)"))
            return
        }
        guard case .object = message else {
            reply(id: .null, error: Failure(code: .invalidRequest, message: "a message must be a JSON object"))
            return
        }
        let id = message["id"]
        if let id, !Self.isValidID(id) {
            reply(id: .null, error: Failure(code: .invalidRequest, message: "'id' must be a number or a string"))
            return
        }
        guard message["jsonrpc"]?.stringValue == "2.0" else {
            reply(id: id ?? .null, error: Failure(code: .invalidRequest, message: "'jsonrpc' must be \"2.0\""))
            return
        }
        guard let method = message["method"]?.stringValue else {
            if id != nil, message["result"] != nil || message["error"] != nil {
                return  // a response; this server sends no requests, so there is nothing to match
            }
            reply(id: id ?? .null, error: Failure(code: .invalidRequest, message: "'method' must be a string"))
            return
        }
        let params = message["params"] ?? .null
        guard let id else {
            notification(method, params)
            return
        }
        do {
            reply(id: id, result: try request(method, params))
        } catch let failure as Failure {
            reply(id: id, error: failure)
        } catch {
            reply(id: id, error: Failure(code: .requestFailed, message: "\(error)"))
        }
    }

    private static func isValidID(_ id: JSON) -> Bool {
        switch id {
        case .int, .string: return true
        case .double(let value): return value.isFinite && value == value.rounded()
        default: return false
        }
    }

    private func request(_ method: String, _ params: JSON) throws -> JSON {
        switch state {
        case .uninitialized where method != "initialize":
            throw Failure(code: .serverNotInitialized, message: "the server is not initialized yet")
        case .shutDown:
            throw Failure(code: .invalidRequest, message: "the server is shut down; only 'exit' is accepted")
        default:
            break
        }
        switch method {
        case "initialize":
            guard state == .uninitialized else {
                throw Failure(code: .invalidRequest, message: "the server is already initialized")
            }
            state = .running
            return Self.initializeResult
        case "shutdown":
            state = .shutDown
            documents = [:]
            return .null
        case "textDocument/hover":
            return try hover(params)
        case "textDocument/inlayHint":
            return try inlayHints(params)
        case "textDocument/completion":
            return try completion(params)
        case "textDocument/codeAction":
            return try codeActions(params)
        case "textDocument/documentSymbol":
            return try documentSymbols(params)
        default:
            throw Failure(code: .methodNotFound, message: "unsupported method '\(method)'")
        }
    }

    private func notification(_ method: String, _ params: JSON) {
        if method == "exit" {
            exitStatus = state == .shutDown ? 0 : 1
            return
        }
        guard state == .running else { return }  // LSP: notifications before initialize are dropped
        switch method {
        case "textDocument/didOpen":
            didOpen(params)
        case "textDocument/didChange":
            didChange(params)
        case "textDocument/didSave":
            // The text in memory is what was saved; publish again for clients that clear on save.
            guard let uri = params["textDocument"]?["uri"]?.stringValue, let open = documents[uri] else {
                warn("didSave for a document that is not open; ignored")
                return
            }
            publishDiagnostics(open)
        case "textDocument/didClose":
            didClose(params)
        default:
            break  // `initialized`, `$/cancelRequest`, `$/setTrace`, … need nothing
        }
    }

    func reply(id: JSON, result: JSON) {
        send(.object([("jsonrpc", .string("2.0")), ("id", id), ("result", result)]))
    }

    func reply(id: JSON, error: Failure) {
        let body = JSON.object([("code", .int(error.code.rawValue)), ("message", .string(error.message))])
        send(.object([("jsonrpc", .string("2.0")), ("id", id), ("error", body)]))
    }

    private func notify(_ method: String, _ params: JSON) {
        send(.object([("jsonrpc", .string("2.0")), ("method", .string(method)), ("params", params)]))
    }

    /// `window/logMessage` of type warning: how a notification that cannot be acted on is reported.
    private func warn(_ message: String) {
        notify("window/logMessage", .object([("type", .int(2)), ("message", .string("cnnc: " + message))]))
    }

    static let initializeResult = JSON.object([
        ("capabilities", .object([
            ("positionEncoding", .string("utf-16")),
            ("textDocumentSync", .object([
                ("openClose", .bool(true)),
                ("change", .int(2)),  // incremental
                ("save", .object([("includeText", .bool(false))])),
            ])),
            ("hoverProvider", .bool(true)),
            ("completionProvider", .object([
                ("triggerCharacters", .array([" ", "{", ",", "-"].map { .string($0) })),
            ])),
            ("codeActionProvider", .object([("codeActionKinds", .array([.string("quickfix")]))])),
            ("documentSymbolProvider", .bool(true)),
            ("inlayHintProvider", .bool(true)),
        ])),
        ("serverInfo", .object([("name", .string("cnnc")), ("version", .string(cnncVersion))])),
    ])

    // MARK: - Documents

    private struct OpenDocument {
        var text: TextDocument
        var analysis: SpecAnalysis
    }

    private func didOpen(_ params: JSON) {
        guard let item = params["textDocument"], let uri = item["uri"]?.stringValue,
              let text = item["text"]?.stringValue else {
            warn("didOpen without textDocument.uri and text; ignored")
            return
        }
        let document = TextDocument(uri: uri, version: item["version"]?.intValue ?? 0, text: text)
        documents[uri] = OpenDocument(text: document, analysis: Self.analyse(document))
        publishDiagnostics(documents[uri]!)
    }

    private func didChange(_ params: JSON) {
        guard let uri = params["textDocument"]?["uri"]?.stringValue, var open = documents[uri] else {
            warn("didChange for a document that is not open; ignored")
            return
        }
        guard let changes = params["contentChanges"]?.arrayValue else {
            warn("didChange without contentChanges; ignored")
            return
        }
        for change in changes {
            guard let text = change["text"]?.stringValue else {
                warn("a content change without text; ignored")
                continue
            }
            if let range = change["range"], !range.isNull {
                guard let parsed = LSPRange(range) else {
                    warn("a content change with an invalid range; ignored")
                    continue
                }
                open.text.apply(range: parsed, newText: text)
            } else {
                open.text.apply(range: nil, newText: text)
            }
        }
        if let version = params["textDocument"]?["version"]?.intValue {
            open.text.version = version
        }
        open.analysis = Self.analyse(open.text)
        documents[uri] = open
        publishDiagnostics(open)
    }

    private func didClose(_ params: JSON) {
        guard let uri = params["textDocument"]?["uri"]?.stringValue, documents[uri] != nil else {
            warn("didClose for a document that is not open; ignored")
            return
        }
        documents[uri] = nil
        notify("textDocument/publishDiagnostics",
               .object([("uri", .string(uri)), ("diagnostics", .array([]))]))
    }

    private static func analyse(_ document: TextDocument) -> SpecAnalysis {
        SpecAnalysis(path: document.path, text: document.text)
    }

    /// The open document `params.textDocument.uri` names.
    private func document(_ params: JSON) throws -> OpenDocument {
        guard let uri = params["textDocument"]?["uri"]?.stringValue else {
            throw Failure(code: .invalidParams, message: "missing textDocument.uri")
        }
        guard let document = documents[uri] else {
            throw Failure(code: .requestFailed, message: "document is not open: \(uri)")
        }
        return document
    }

    private func position(_ params: JSON) throws -> LSPPosition {
        guard let position = LSPPosition(params["position"]) else {
            throw Failure(code: .invalidParams, message: "missing or invalid position")
        }
        return position
    }

    // MARK: - Features

    private func publishDiagnostics(_ document: OpenDocument) {
        let diagnostics = document.analysis.diagnostics.map { lspDiagnostic($0, in: document) }
        notify("textDocument/publishDiagnostics", .object([
            ("uri", .string(document.text.uri)),
            ("version", .int(document.text.version)),
            ("diagnostics", .array(diagnostics)),
        ]))
    }

    /// The span a diagnostic underlines: its token, or the first line for a file-wide problem.
    private func range(of diagnostic: Diagnostic, in document: OpenDocument) -> LSPRange {
        guard let location = diagnostic.location else {
            let firstLineEnd = document.text.position(of: SourceLocation(line: 1, column: Int.max / 2))
            return LSPRange(start: LSPPosition(line: 0, character: 0), end: firstLineEnd)
        }
        let end = diagnostic.end
            ?? SourceLocation(line: location.line, column: document.analysis.source.tokenEnd(at: location))
        return LSPRange(start: document.text.position(of: location), end: document.text.position(of: end))
    }

    private func lspDiagnostic(_ diagnostic: Diagnostic, in document: OpenDocument) -> JSON {
        var message = diagnostic.message
        for note in diagnostic.notes {
            message += "\n" + note
        }
        if let hint = diagnostic.hint {
            message += "\nhint: " + hint
        }
        return .object([
            ("range", range(of: diagnostic, in: document).json),
            ("severity", .int(diagnostic.severity == .error ? 1 : 2)),
            ("source", .string("cnnc")),
            ("message", .string(message)),
        ])
    }

    private func hover(_ params: JSON) throws -> JSON {
        let document = try document(params)
        let location = document.text.location(of: try position(params))
        guard let facts = document.analysis.hover(at: location) else { return .null }
        let range = LSPRange(start: document.text.position(of: facts.start), end: document.text.position(of: facts.end))
        return .object([
            ("contents", .object([("kind", .string("markdown")), ("value", .string(facts.text))])),
            ("range", range.json),
        ])
    }

    private func inlayHints(_ params: JSON) throws -> JSON {
        let document = try document(params)
        let wanted = LSPRange(params["range"]) ?? LSPRange(start: LSPPosition(line: 0, character: 0),
                                                          end: document.text.endPosition)
        let hints: [JSON] = document.analysis.inlayHints().compactMap { hint in
            let position = document.text.position(of: hint.position)
            guard wanted.start.line <= position.line, position.line <= wanted.end.line else { return nil }
            return .object([
                ("position", position.json),
                ("label", .string(hint.label)),
                ("kind", .int(1)),  // type
                ("paddingLeft", .bool(true)),
            ])
        }
        return .array(hints)
    }

    private func documentSymbols(_ params: JSON) throws -> JSON {
        let document = try document(params)
        let symbols: [JSON] = document.analysis.symbols().map { symbol in
            var fields: [(String, JSON)] = [("name", .string(symbol.name))]
            if let detail = symbol.detail {
                fields.append(("detail", .string(detail)))
            }
            let range = LSPRange(start: document.text.position(of: symbol.start), end: document.text.position(of: symbol.end))
            let selection = LSPRange(start: document.text.position(of: symbol.nameStart),
                                     end: document.text.position(of: symbol.nameEnd))
            fields.append(("kind", .int(2)))  // module: a layer is an nn.Module of the Sequential
            fields.append(("range", range.json))
            fields.append(("selectionRange", selection.json))
            return .object(fields)
        }
        return .array(symbols)
    }

    private func completion(_ params: JSON) throws -> JSON {
        let document = try document(params)
        let location = document.text.location(of: try position(params))
        let items: [JSON] = document.analysis.completions(at: location).map { item in
            var fields: [(String, JSON)] = [
                ("label", .string(item.label)),
                ("kind", .int(Self.completionKind(item.kind))),
                ("detail", .string(item.detail)),
                ("documentation", .object([("kind", .string("markdown")), ("value", .string(item.documentation))])),
            ]
            if let insert = item.insertText {
                fields.append(("insertText", .string(insert)))
            }
            return .object(fields)
        }
        return .object([("isIncomplete", .bool(false)), ("items", .array(items))])
    }

    /// LSP's CompletionItemKind: Class for layer kinds, Property for keys, EnumMember for values.
    private static func completionKind(_ kind: CompletionFact.Kind) -> Int {
        switch kind {
        case .layer: return 7
        case .key: return 10
        case .value: return 20
        }
    }

    /// Quick fixes of the diagnostics on the requested lines, as workspace edits.
    private func codeActions(_ params: JSON) throws -> JSON {
        let document = try document(params)
        guard let range = LSPRange(params["range"]) else {
            throw Failure(code: .invalidParams, message: "missing or invalid range")
        }
        let first = document.text.location(of: range.start).line
        let last = document.text.location(of: range.end).line
        var actions: [JSON] = []
        for (index, entry) in document.analysis.fixes(onLines: first...max(first, last)).enumerated() {
            let edits: [JSON] = entry.fix.edits.map { edit in
                let span = LSPRange(start: document.text.position(of: edit.range.start),
                                    end: document.text.position(of: edit.range.end))
                return .object([("range", span.json), ("newText", .string(edit.replacement))])
            }
            actions.append(.object([
                ("title", .string(entry.fix.title)),
                ("kind", .string("quickfix")),
                ("diagnostics", .array([lspDiagnostic(entry.diagnostic, in: document)])),
                ("isPreferred", .bool(index == 0)),
                ("edit", .object([("changes", .object([(document.text.uri, .array(edits))]))])),
            ]))
        }
        return .array(actions)
    }
}
