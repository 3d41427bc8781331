import Foundation
import XCTest

/// `cnnc lsp` at the protocol level: a client speaks JSON-RPC to the real binary over pipes.
final class LanguageServerTests: XCTestCase {
    var scratch = ""

    override func setUpWithError() throws {
        scratch = try CLI.temporaryDirectory(prefix: "cnnc-lsp")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: scratch)
    }

    static let broken = """
        name: broken
        layers:
          - Conv3D: {out_channels: 8, kernel_size: 3}
          - Conv2D: {out_channels: eight, kernel_size: 3}
          - Conv2D: {out_channels: 8, kernal_size: 3}
          - Dropout: {p: 1.5}
          - Linear: {out_features: 10}

        """

    func uri(_ name: String) -> String { "file://\(scratch)/\(name)" }

    func exampleText(_ name: String) throws -> String {
        try String(contentsOfFile: CLI.example(name), encoding: .utf8)
    }

    /// The 0-based index of the first line of `text` starting with `prefix` (examples may gain
    /// comment lines, so tests look lines up instead of counting them).
    func line(startingWith prefix: String, in text: String) throws -> Int {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        return try XCTUnwrap(lines.firstIndex { $0.hasPrefix(prefix) }, "no line starts with \(prefix)")
    }

    // MARK: - Lifecycle

    func testInitializeAdvertisesFeaturesAndShutdownExitsZero() throws {
        let client = try LSPClient()
        let result = try XCTUnwrap(client.result("initialize", ["processId": NSNull(), "capabilities": [String: Any]()])
            as? [String: Any])
        let capabilities = try XCTUnwrap(result["capabilities"] as? [String: Any])
        XCTAssertEqual(capabilities.at("textDocumentSync.change") as? Int, 2, "incremental sync")
        XCTAssertEqual(capabilities.at("textDocumentSync.openClose") as? Bool, true)
        XCTAssertEqual(capabilities["positionEncoding"] as? String, "utf-16")
        for feature in ["hoverProvider", "inlayHintProvider", "documentSymbolProvider"] {
            XCTAssertEqual(capabilities[feature] as? Bool, true, feature)
        }
        XCTAssertNotNil(capabilities["completionProvider"] as? [String: Any])
        XCTAssertNotNil(capabilities["codeActionProvider"])
        XCTAssertEqual(result.at("serverInfo.name") as? String, "cnnc")
        try client.notify("initialized", [:])
        XCTAssertEqual(try client.shutdown(), 0)
    }

    func testExitWithoutShutdownExitsOne() throws {
        let client = try LSPClient()
        try client.initialize()
        try client.notify("exit", [:])
        XCTAssertEqual(try client.waitForExit(), 1)
    }

    func testEndOfInputEndsTheServer() throws {
        let client = try LSPClient()
        try client.initialize()
        client.closeInput()
        XCTAssertEqual(try client.waitForExit(), 1, "end of input without shutdown")
    }

    // MARK: - Diagnostics

    /// The published diagnostics are `cnnc check`'s, at the same places, as LSP ranges.
    func testDiagnosticsAreExactlyChecks() throws {
        let path = try CLI.write(Self.broken, named: "broken.yaml", in: scratch)
        let check = try CLI.jsonObject(try CLI.run(["check", "--json", path]).stdout)
        let expected = try XCTUnwrap(check["diagnostics"] as? [[String: Any]])
        XCTAssertGreaterThanOrEqual(expected.count, 4, "\(expected)")

        let client = try LSPClient()
        try client.initialize()
        try client.open(uri("broken.yaml"), text: Self.broken)
        let published = try client.diagnostics(for: uri("broken.yaml"))
        XCTAssertEqual(published.count, expected.count, "\(published)")
        for (lsp, cli) in zip(published, expected) {
            let line = try XCTUnwrap(cli["line"] as? Int)
            let column = try XCTUnwrap(cli["column"] as? Int)
            let message = try XCTUnwrap(cli["message"] as? String)
            XCTAssertEqual(lsp.at("range.start.line") as? Int, line - 1, "\(lsp)")
            XCTAssertEqual(lsp.at("range.start.character") as? Int, column - 1, "\(lsp)")
            XCTAssertEqual(lsp["severity"] as? Int, (cli["severity"] as? String) == "error" ? 1 : 2)
            XCTAssertEqual(lsp["source"] as? String, "cnnc")
            let text = try XCTUnwrap(lsp["message"] as? String)
            XCTAssertTrue(text.hasPrefix(message), "\(text) should start with \(message)")
            if let hint = cli["hint"] as? String {
                XCTAssertTrue(text.contains("hint: " + hint), "\(text) should carry the hint \(hint)")
            }
        }
        // The range covers the offending token: `Conv3D` on line 3.
        let first = try XCTUnwrap(published.first)
        XCTAssertEqual(first.at("range.start.line") as? Int, 2)
        XCTAssertEqual(first.at("range.start.character") as? Int, 4)
        XCTAssertEqual(first.at("range.end.character") as? Int, 10)

        // Fixed by a full-text change: an empty list.
        try client.notify("textDocument/didChange", [
            "textDocument": ["uri": uri("broken.yaml"), "version": 2],
            "contentChanges": [["text": try exampleText("lenet.yaml")]],
        ])
        XCTAssertEqual(try client.diagnostics(for: uri("broken.yaml")).count, 0)
        XCTAssertEqual(try client.shutdown(), 0)
    }

    func testIncrementalChangesAreApplied() throws {
        let client = try LSPClient()
        try client.initialize()
        let text = try exampleText("mnist.yaml")
        try client.open(uri("mnist.yaml"), text: text)
        XCTAssertEqual(try client.diagnostics(for: uri("mnist.yaml")).count, 0)
        // `  - Conv2D: {out_channels: 32, kernel_size: 3, padding: 1}`: 32 is at characters 27..<29.
        let conv = try line(startingWith: "  - Conv2D: {out_channels: 32,", in: text)
        let name = try line(startingWith: "name: mnist-cnn", in: text)
        let range: [String: Any] = ["start": lspPosition(conv, 27), "end": lspPosition(conv, 29)]
        try client.notify("textDocument/didChange", [
            "textDocument": ["uri": uri("mnist.yaml"), "version": 2],
            "contentChanges": [["range": range, "text": "eight"]],
        ])
        let broken = try client.diagnostics(for: uri("mnist.yaml"))
        XCTAssertEqual(broken.count, 1, "\(broken)")
        XCTAssertEqual(broken.first?.at("range.start.line") as? Int, conv)
        XCTAssertEqual(broken.first?.at("range.start.character") as? Int, 27)
        XCTAssertEqual(broken.first?.at("range.end.character") as? Int, 32)
        XCTAssertTrue((broken.first?["message"] as? String)?.hasPrefix("'out_channels' must be an integer, got 'eight'") == true,
                      "\(broken)")
        // Two edits in one notification, applied in order: restore, then a second-line change.
        try client.notify("textDocument/didChange", [
            "textDocument": ["uri": uri("mnist.yaml"), "version": 3],
            "contentChanges": [
                ["range": ["start": lspPosition(conv, 27), "end": lspPosition(conv, 32)], "text": "32"],
                ["range": ["start": lspPosition(name, 6), "end": lspPosition(name, 15)], "text": "renamed"],
            ],
        ])
        XCTAssertEqual(try client.diagnostics(for: uri("mnist.yaml")).count, 0)
        let symbols = try XCTUnwrap(client.result("textDocument/documentSymbol",
                                                  ["textDocument": ["uri": uri("mnist.yaml")]]) as? [[String: Any]])
        XCTAssertEqual(symbols.first?["name"] as? String, "0 Conv2D conv2d_0", "the restored first layer")
        XCTAssertEqual(try client.shutdown(), 0)
    }

    /// Positions count UTF-16 code units: an emoji before an error moves it by two.
    func testPositionsAreUTF16() throws {
        let text = """
            layers:
              - Dropout: {name: "😀é", p: 1.5}
              - Linear: {out_features: 10}

            """
        let client = try LSPClient()
        try client.initialize()
        try client.open(uri("utf16.yaml"), text: text)
        let diagnostics = try client.diagnostics(for: uri("utf16.yaml"))
        XCTAssertEqual(diagnostics.count, 1, "\(diagnostics)")
        // `  - Dropout: {name: "😀é", p: ` is 29 scalars and 30 UTF-16 units before `1.5`.
        XCTAssertEqual(diagnostics.first?.at("range.start.line") as? Int, 1)
        XCTAssertEqual(diagnostics.first?.at("range.start.character") as? Int, 30)
        XCTAssertEqual(diagnostics.first?.at("range.end.character") as? Int, 33)
        // An incremental edit addressed in UTF-16 after the emoji: `1.5` → `0.5`.
        try client.notify("textDocument/didChange", [
            "textDocument": ["uri": uri("utf16.yaml"), "version": 2],
            "contentChanges": [["range": ["start": lspPosition(1, 30), "end": lspPosition(1, 31)], "text": "0"]],
        ])
        XCTAssertEqual(try client.diagnostics(for: uri("utf16.yaml")).count, 0)
        XCTAssertEqual(try client.shutdown(), 0)
    }

    func testClosingADocumentClearsItsDiagnosticsAndForgetsIt() throws {
        let client = try LSPClient()
        try client.initialize()
        try client.open(uri("broken.yaml"), text: Self.broken)
        XCTAssertGreaterThan(try client.diagnostics(for: uri("broken.yaml")).count, 0)
        try client.notify("textDocument/didClose", ["textDocument": ["uri": uri("broken.yaml")]])
        XCTAssertEqual(try client.diagnostics(for: uri("broken.yaml")).count, 0)
        let response = try client.request("textDocument/hover", ["textDocument": ["uri": uri("broken.yaml")],
                                                                 "position": lspPosition(2, 5)])
        XCTAssertNotNil(response["error"], "a request for a closed document is an error: \(response)")
        XCTAssertEqual(try client.shutdown(), 0)
    }

    // MARK: - Hover, inlay hints, symbols

    func testHoverOnALayerShowsShapesParametersMACsAndBudgetShare() throws {
        let client = try LSPClient()
        try client.initialize()
        let text = try exampleText("mnist.yaml")
        let conv = try line(startingWith: "  - Conv2D: {out_channels: 32,", in: text)
        let linearLine = try line(startingWith: "  - Linear: {out_features: 128}", in: text)
        try client.open(uri("mnist.yaml"), text: text)
        _ = try client.diagnostics(for: uri("mnist.yaml"))
        let hover = try XCTUnwrap(client.result("textDocument/hover", [
            "textDocument": ["uri": uri("mnist.yaml")], "position": lspPosition(conv, 6),
        ]) as? [String: Any])
        let shown = try XCTUnwrap(hover.at("contents.value") as? String)
        // Conv2D 1→32, 3×3: 32·1·9 + 32 = 320 parameters; MACs 32·9·28·28 = 225,792.
        XCTAssertTrue(shown.contains("1×28×28 → 32×28×28"), shown)
        XCTAssertTrue(shown.contains("parameters: 320 (0.03% of the 1,000,000 budget"), shown)
        XCTAssertTrue(shown.contains("MACs: 225,792"), shown)
        XCTAssertEqual(hover.at("range.start.line") as? Int, conv)
        XCTAssertEqual(hover.at("range.start.character") as? Int, 4)

        // The first Linear flattens 64×7×7 first: 3,136·128 + 128 = 401,536.
        let linear = try XCTUnwrap(client.result("textDocument/hover", [
            "textDocument": ["uri": uri("mnist.yaml")], "position": lspPosition(linearLine, 30),
        ]) as? [String: Any])
        let linearText = try XCTUnwrap(linear.at("contents.value") as? String)
        XCTAssertTrue(linearText.contains("64×7×7 → 3136"), linearText)
        XCTAssertTrue(linearText.contains("parameters: 401,536 (40.15%"), linearText)

        // Off any layer: no hover.
        let none = try client.result("textDocument/hover", [
            "textDocument": ["uri": uri("mnist.yaml")], "position": lspPosition(1, 3),  // a comment
        ])
        XCTAssertTrue(none is NSNull, "\(none)")
        XCTAssertEqual(try client.shutdown(), 0)
    }

    func testInlayHintsShowOutputShapeAndRunningTotalAtLineEnd() throws {
        let client = try LSPClient()
        try client.initialize()
        let text = try exampleText("mnist.yaml")
        try client.open(uri("mnist.yaml"), text: text)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let hints = try XCTUnwrap(client.result("textDocument/inlayHint", [
            "textDocument": ["uri": uri("mnist.yaml")],
            "range": ["start": lspPosition(0, 0), "end": lspPosition(lines.count, 0)],
        ]) as? [[String: Any]])
        XCTAssertEqual(hints.count, 18, "one per layer")
        XCTAssertEqual(hints.first?["label"] as? String, "→ 32×28×28 · Σ 320")
        let conv = try line(startingWith: "  - Conv2D: {out_channels: 32,", in: text)
        XCTAssertEqual(hints.first?.at("position.line") as? Int, conv)
        XCTAssertEqual(hints.first?.at("position.character") as? Int, lines[conv].utf16.count)
        XCTAssertEqual(hints.last?["label"] as? String, "→ 10 · Σ 468,202")
        // A range asks for the hints of its lines only.
        let some = try XCTUnwrap(client.result("textDocument/inlayHint", [
            "textDocument": ["uri": uri("mnist.yaml")],
            "range": ["start": lspPosition(conv, 0), "end": lspPosition(conv + 2, 0)],
        ]) as? [[String: Any]])
        XCTAssertEqual(some.count, 3)
        XCTAssertEqual(try client.shutdown(), 0)
    }

    /// Over the parameter limit the graph is still shown, so hints say where the parameters are.
    func testInlayHintsStayWhileOverTheParameterLimit() throws {
        let text = """
            layers:
              - Linear: {out_features: 2000}
              - Linear: {out_features: 10}

            """
        let client = try LSPClient()
        try client.initialize()
        try client.open(uri("big.yaml"), text: text)
        let diagnostics = try client.diagnostics(for: uri("big.yaml"))
        XCTAssertEqual(diagnostics.count, 1)
        XCTAssertTrue((diagnostics.first?["message"] as? String)?.contains("the limit is fewer than 1,000,000") == true)
        let hints = try XCTUnwrap(client.result("textDocument/inlayHint", [
            "textDocument": ["uri": uri("big.yaml")],
            "range": ["start": lspPosition(0, 0), "end": lspPosition(3, 0)],
        ]) as? [[String: Any]])
        // 784·2000 + 2000 = 1,570,000; then 2000·10 + 10.
        XCTAssertEqual(hints.map { $0["label"] as? String }, ["→ 2000 · Σ 1,570,000", "→ 10 · Σ 1,590,010"])
        XCTAssertEqual(try client.shutdown(), 0)
    }

    func testDocumentSymbolsListTheLayers() throws {
        let client = try LSPClient()
        try client.initialize()
        let text = try exampleText("lenet.yaml")
        try client.open(uri("lenet.yaml"), text: text)
        let symbols = try XCTUnwrap(client.result("textDocument/documentSymbol", [
            "textDocument": ["uri": uri("lenet.yaml")],
        ]) as? [[String: Any]])
        XCTAssertEqual(symbols.count, 13)
        XCTAssertEqual(symbols.first?["name"] as? String, "0 Conv2D conv2d_0")
        XCTAssertEqual(symbols.first?["detail"] as? String, "→ 6×28×28")
        // The implicit flatten is module 6, so the first Linear is module 7.
        XCTAssertEqual(symbols[6]["name"] as? String, "7 Linear linear_7")
        XCTAssertEqual(symbols[6]["detail"] as? String, "→ 120")
        XCTAssertEqual(symbols[6].at("selectionRange.start.line") as? Int,
                       try line(startingWith: "  - Linear: {out_features: 120}", in: text))
        XCTAssertEqual(try client.shutdown(), 0)
    }

    // MARK: - Completion and quick fixes

    func testCompletionOffersLayersKeysAndValuesFromTheLayerTable() throws {
        let text = """
            name: c
            layers:
              - Con
              - Conv2D: {out_channels: 8, }
              - MaxPool2D:
                  kernel_size: 2
                  
              - Linear: {out_features: 10, bias: }
            train:
              optimizer: 
              

            """
        let client = try LSPClient()
        try client.initialize()
        try client.open(uri("complete.yaml"), text: text)
        _ = try client.diagnostics(for: uri("complete.yaml"))
        func items(_ line: Int, _ character: Int) throws -> [[String: Any]] {
            let result = try XCTUnwrap(client.result("textDocument/completion", [
                "textDocument": ["uri": uri("complete.yaml")], "position": lspPosition(line, character),
            ]) as? [String: Any])
            return try XCTUnwrap(result["items"] as? [[String: Any]])
        }
        func labels(_ line: Int, _ character: Int) throws -> [String] {
            try items(line, character).compactMap { $0["label"] as? String }
        }
        let layers = try items(2, 7)
        XCTAssertEqual(layers.compactMap { $0["label"] as? String },
                       ["Linear", "Conv2D", "MaxPool2D", "BatchNorm2D", "Dropout", "ReLU", "Softmax"])
        let conv = try XCTUnwrap(layers.first { ($0["label"] as? String) == "Conv2D" })
        XCTAssertEqual(conv["detail"] as? String, "nn.Conv2d")
        XCTAssertTrue((conv.at("documentation.value") as? String)?.contains("kernel_size") == true, "\(conv)")

        let arguments = try items(3, 30)
        XCTAssertEqual(arguments.compactMap { $0["label"] as? String },
                       ["kernel_size", "stride", "padding", "bias", "weight_decay", "name"], "out_channels is written")
        let kernel = try XCTUnwrap(arguments.first)
        XCTAssertTrue((kernel["detail"] as? String)?.contains("required") == true, "\(kernel)")
        XCTAssertTrue((kernel.at("documentation.value") as? String)?.contains("nn.Conv2d(kernel_size=") == true, "\(kernel)")

        XCTAssertEqual(try labels(6, 6), ["stride", "padding", "name"], "block mapping, kernel_size written")
        XCTAssertEqual(try labels(7, 37), ["true", "false"], "bias is a boolean")
        XCTAssertEqual(try labels(9, 13), ["adam", "sgd"])
        XCTAssertEqual(try labels(10, 2), ["epochs", "batch_size", "seed"], "optimizer is written")
        XCTAssertEqual(try labels(11, 0), ["input"], "name, layers and train are written")
        XCTAssertEqual(try labels(0, 7), [], "a free-text value has no completions")
        XCTAssertEqual(try client.shutdown(), 0)
    }

    /// Did-you-mean diagnostics come with quick fixes: workspace edits that replace the word.
    func testCodeActionsFixDidYouMeanMistakes() throws {
        let client = try LSPClient()
        try client.initialize()
        try client.open(uri("broken.yaml"), text: Self.broken)
        _ = try client.diagnostics(for: uri("broken.yaml"))
        func actions(_ line: Int, _ character: Int) throws -> [[String: Any]] {
            try XCTUnwrap(client.result("textDocument/codeAction", [
                "textDocument": ["uri": uri("broken.yaml")],
                "range": ["start": lspPosition(line, character), "end": lspPosition(line, character)],
                "context": ["diagnostics": [Any]()],
            ]) as? [[String: Any]])
        }
        for (line, character, word, replacement) in [(2, 4, "Conv3D", "Conv2D"), (4, 30, "kernal_size", "kernel_size")] {
            let found = try actions(line, character)
            let action = try XCTUnwrap(found.first, "a quick fix for \(word)")
            XCTAssertEqual(action["kind"] as? String, "quickfix")
            XCTAssertEqual(action["isPreferred"] as? Bool, true)
            XCTAssertEqual((action["diagnostics"] as? [Any])?.count, 1)
            let changes = try XCTUnwrap(action.at("edit.changes") as? [String: Any], "\(action)")
            let edits = try XCTUnwrap(changes[uri("broken.yaml")] as? [[String: Any]], "\(changes)")
            XCTAssertEqual(edits.count, 1)
            XCTAssertEqual(edits.first?["newText"] as? String, replacement)
            XCTAssertEqual(edits.first?.at("range.start.line") as? Int, line)
            XCTAssertEqual(edits.first?.at("range.start.character") as? Int, character)
            XCTAssertEqual(edits.first?.at("range.end.character") as? Int, character + word.utf16.count)
        }
        XCTAssertEqual(try actions(5, 18).count, 0, "a range error has no quick fix")
        XCTAssertEqual(try client.shutdown(), 0)
    }

    func testHoverOnAKeyShowsItsDocTypeDefaultAndPyTorchName() throws {
        let client = try LSPClient()
        try client.initialize()
        let text = try exampleText("strided.yaml")
        try client.open(uri("strided.yaml"), text: text)
        let stem = try line(startingWith: "  - Conv2D: {name: stem", in: text)
        let column = try XCTUnwrap(text.split(separator: "\n", omittingEmptySubsequences: false)[stem]
            .range(of: "kernel_size")).lowerBound.utf16Offset(in: text.split(separator: "\n", omittingEmptySubsequences: false)[stem])
        let hover = try XCTUnwrap(client.result("textDocument/hover", [
            "textDocument": ["uri": uri("strided.yaml")], "position": lspPosition(stem, column + 3),
        ]) as? [String: Any])
        let value = try XCTUnwrap(hover.at("contents.value") as? String)
        XCTAssertTrue(value.contains("**kernel_size** · Conv2D argument"), value)
        XCTAssertTrue(value.contains("integer or [h, w]"), value)
        XCTAssertTrue(value.contains("default: required"), value)
        XCTAssertTrue(value.contains("nn.Conv2d(kernel_size=…)"), value)
        XCTAssertEqual(hover.at("range.start.character") as? Int, column)
        XCTAssertEqual(hover.at("range.end.character") as? Int, column + 11)

        let momentum = try line(startingWith: "  optimizer: {name: sgd", in: text)
        let optimizerHover = try XCTUnwrap(client.result("textDocument/hover", [
            "textDocument": ["uri": uri("strided.yaml")], "position": lspPosition(momentum, 36),
        ]) as? [String: Any])
        XCTAssertTrue((optimizerHover.at("contents.value") as? String)?.contains("**momentum** · train.optimizer") == true,
                      "\(optimizerHover)")
        XCTAssertEqual(try client.shutdown(), 0)
    }

    // MARK: - Robustness

    func testMalformedMessagesGetErrorsAndTheServerKeepsServing() throws {
        let client = try LSPClient()
        // Before initialize: a request is refused, a notification is dropped.
        let early = try client.request("textDocument/hover", ["textDocument": ["uri": uri("x.yaml")],
                                                              "position": lspPosition(0, 0)])
        XCTAssertEqual(early.at("error.code") as? Int, -32002)
        try client.initialize()

        func nextError(_ what: String) throws -> [String: Any] {
            try client.waitFor(what) { $0["error"] != nil && $0["id"] is NSNull }
        }
        client.sendRaw("{\"jsonrpc\": \"2.0\", \"id\": 7, \"method\": ")
        XCTAssertEqual(try nextError("parse error").at("error.code") as? Int, -32700)
        client.sendRaw("[1, 2, 3]")
        XCTAssertEqual(try nextError("invalid request").at("error.code") as? Int, -32600)
        client.sendRaw("\"just a string\"")
        XCTAssertEqual(try nextError("invalid request").at("error.code") as? Int, -32600)
        client.write(Data("Content-Type: application/json\r\n\r\n{}".utf8))
        XCTAssertEqual(try nextError("missing Content-Length").at("error.code") as? Int, -32700)
        client.write(Data("Content-Length: banana\r\n\r\n".utf8))
        XCTAssertEqual(try nextError("bad Content-Length").at("error.code") as? Int, -32700)
        client.sendRaw("{\"jsonrpc\": \"2.0\", \"id\": {\"a\": 1}, \"method\": \"shutdown\"}")
        XCTAssertEqual(try nextError("bad id").at("error.code") as? Int, -32600)
        client.sendRaw("{\"jsonrpc\": \"2.0\", \"id\": \"text\", \"method\": \"textDocument/hover\", \"params\": 5}")
        let badParams = try client.waitFor("invalid params") { ($0["id"] as? String) == "text" }
        XCTAssertEqual(badParams.at("error.code") as? Int, -32602)
        client.sendRaw("{\"jsonrpc\": \"1.0\", \"id\": 99, \"method\": \"shutdown\"}")
        XCTAssertEqual(try client.waitFor("wrong version") { ($0["id"] as? Int) == 99 }.at("error.code") as? Int, -32600)
        client.sendRaw("{\"jsonrpc\": \"2.0\", \"id\": 1e400, \"method\": \"x\"}")
        _ = try client.waitFor("huge id") { $0["error"] != nil }
        client.sendRaw(String(repeating: "[", count: 100_000))
        XCTAssertEqual(try nextError("deep nesting").at("error.code") as? Int, -32700)

        // Unknown requests: MethodNotFound; unknown notifications: nothing.
        let unknown = try client.request("textDocument/teleport", [:])
        XCTAssertEqual(unknown.at("error.code") as? Int, -32601)
        try client.notify("$/somethingNew", [:])
        try client.notify("textDocument/didChange", ["textDocument": ["uri": uri("never-opened.yaml")],
                                                     "contentChanges": [["text": "x"]]])
        _ = try client.waitFor("a log message about the unopened document") {
            ($0["method"] as? String) == "window/logMessage"
        }

        // Still serving.
        try client.open(uri("broken.yaml"), text: Self.broken)
        XCTAssertGreaterThan(try client.diagnostics(for: uri("broken.yaml")).count, 0)
        XCTAssertEqual(client.junk, [], "every frame the server wrote must be well formed")
        XCTAssertEqual(try client.shutdown(), 0)
    }

    /// Arbitrary text (mutations of the examples, binary junk, an oversized file) gets
    /// diagnostics or nothing, and every query at every kind of position answers.
    func testAnyTextGetsAnAnswerAndNeverCrashesTheServer() throws {
        let client = try LSPClient()
        try client.initialize()
        let seeds = try ["mnist.yaml", "lenet.yaml", "strided.yaml"].map(exampleText) + [Self.broken]
        var generator = SplitMix(seed: 8)
        let alphabet = Array("{}[]:,-#'\"\t \n\r&*!|>%@`0123456789abcLinearConv2D\u{85}\u{2028}😀é\\")
        let target = uri("fuzz.yaml")
        try client.open(target, text: "")
        _ = try client.diagnostics(for: target)
        for round in 0..<150 {
            var characters = Array(seeds[round % seeds.count])
            for _ in 0..<(1 + generator.next() % 6) {
                let position = generator.next() % (characters.count + 1)
                switch generator.next() % 3 {
                case 0 where !characters.isEmpty:
                    characters.remove(at: min(position, characters.count - 1))
                case 1:
                    characters.insert(alphabet[generator.next() % alphabet.count], at: position)
                default:
                    let cut = min(position + generator.next() % 40, characters.count)
                    characters.removeSubrange(position..<cut)
                }
            }
            let text = String(characters)
            try client.notify("textDocument/didChange", ["textDocument": ["uri": target, "version": round + 2],
                                                         "contentChanges": [["text": text]]])
            _ = try client.diagnostics(for: target)
            let lineCount = text.split(separator: "\n", omittingEmptySubsequences: false).count
            let position = lspPosition(generator.next() % (lineCount + 2), generator.next() % 60)
            for method in ["textDocument/hover", "textDocument/completion", "textDocument/documentSymbol",
                           "textDocument/inlayHint", "textDocument/codeAction"] {
                let response = try client.request(method, [
                    "textDocument": ["uri": target], "position": position,
                    "range": ["start": position, "end": lspPosition(lineCount + 1, 0)],
                    "context": ["diagnostics": [Any]()],
                ])
                XCTAssertNil(response["error"], "\(method) on round \(round): \(response)\n\(text)")
            }
        }
        // Over 1 MiB: the same single error as `cnnc check`, not a long parse.
        let huge = "layers:\n" + String(repeating: "  - ReLU\n", count: 130_000)
        try client.notify("textDocument/didChange", ["textDocument": ["uri": target, "version": 1000],
                                                     "contentChanges": [["text": huge]]])
        let diagnostics = try client.diagnostics(for: target)
        XCTAssertEqual(diagnostics.count, 1)
        XCTAssertTrue((diagnostics.first?["message"] as? String)?.contains("a spec must be at most 1 MiB") == true,
                      "\(diagnostics)")
        XCTAssertEqual(try client.shutdown(), 0)
    }
}

/// A small deterministic generator for the mutation test.
struct SplitMix {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> Int {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Int(truncatingIfNeeded: (z ^ (z >> 31)) >> 1)
    }
}
