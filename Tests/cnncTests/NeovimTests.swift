import Foundation
import XCTest

/// `cnnc lsp` in a real editor: headless Neovim's built-in LSP client (Tests/Editor/nvim-lsp.lua)
/// opens a broken spec and an example, and the editor's view is checked here: the diagnostics'
/// lines and messages (against `cnnc check --json`), quick fixes applied to the buffer, a hover,
/// completions and inlay hints. `.ci/run` installs Debian's `neovim`; in CI (`CI=true`) a missing
/// `nvim` fails the test, elsewhere it is skipped with the reason printed.
final class NeovimTests: XCTestCase {
    func testNeovimShowsDiagnosticsHoverAndCompletionAndAppliesQuickFixes() throws {
        let nvim = try Self.neovim()
        let scratch = try CLI.temporaryDirectory(prefix: "cnnc-nvim")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let editor = CLI.packageRoot.appendingPathComponent("Tests/Editor")
        let broken = scratch + "/broken.yaml"
        let example = scratch + "/mnist.yaml"
        try FileManager.default.copyItem(atPath: editor.appendingPathComponent("broken.yaml").path, toPath: broken)
        try FileManager.default.copyItem(atPath: CLI.example("mnist.yaml"), toPath: example)
        let output = scratch + "/result.json"

        let process = Process()
        process.executableURL = URL(fileURLWithPath: nvim)
        process.arguments = ["--headless", "-u", "NONE", "-i", "NONE", "-n",
                             "-c", "luafile \(editor.appendingPathComponent("nvim-lsp.lua").path)"]
        process.currentDirectoryURL = URL(fileURLWithPath: scratch)
        var environment = ProcessInfo.processInfo.environment
        environment["CNNC_BIN"] = try CLI.binary()
        environment["CNNC_NVIM_BROKEN"] = broken
        environment["CNNC_NVIM_EXAMPLE"] = example
        environment["CNNC_NVIM_OUT"] = output
        environment["HOME"] = scratch  // no user configuration, no shada
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        let log = scratch + "/nvim.log"
        FileManager.default.createFile(atPath: log, contents: nil)
        let logHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = logHandle
        process.standardError = logHandle
        try process.run()
        let deadline = Date().addingTimeInterval(120)
        while process.isRunning && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.05)
        }
        if process.isRunning {
            process.terminate()
            XCTFail("nvim did not finish within 120 s")
        }
        try logHandle.close()
        let logText = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        guard let data = FileManager.default.contents(atPath: output) else {
            XCTFail("nvim wrote no results (exit \(process.terminationStatus)):\n\(logText)")
            return
        }
        let results = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        XCTAssertEqual(results["ok"] as? Bool, true, "the Lua script failed: \(results["error"] ?? "?")\n\(logText)")

        // Diagnostics: the lines, columns and messages `cnnc check` gives for the same file.
        let check = try CLI.jsonObject(try CLI.run(["check", "--json", broken]).stdout)
        let expected = try XCTUnwrap(check["diagnostics"] as? [[String: Any]]).map { diagnostic in
            ((diagnostic["line"] as? Int ?? 0) - 1, (diagnostic["column"] as? Int ?? 0) - 1,
             diagnostic["message"] as? String ?? "")
        }
        XCTAssertGreaterThanOrEqual(expected.count, 4)
        let shown = try XCTUnwrap(results["diagnostics"] as? [[String: Any]]).map { diagnostic in
            (diagnostic["line"] as? Int ?? -1, diagnostic["col"] as? Int ?? -1, diagnostic["message"] as? String ?? "",
             diagnostic["source"] as? String ?? "")
        }.sorted { ($0.0, $0.1) < ($1.0, $1.1) }
        XCTAssertEqual(shown.count, expected.count, "\(shown)\nexpected \(expected)")
        for (editor, cli) in zip(shown, expected) {
            XCTAssertEqual(editor.0, cli.0, "line of \(cli.2)")
            XCTAssertEqual(editor.1, cli.1, "column of \(cli.2)")
            XCTAssertTrue(editor.2.hasPrefix(cli.2), "'\(editor.2)' should start with '\(cli.2)'")
            XCTAssertEqual(editor.3, "cnnc")
        }
        XCTAssertTrue(shown.contains { $0.0 == 3 && $0.2.contains("'Conv3D'") }, "\(shown)")

        // Quick fixes, applied to the buffer by Neovim.
        let fixes = try XCTUnwrap(results["fixes"] as? [[String: Any]])
        XCTAssertEqual(fixes.count, 2)
        XCTAssertEqual(fixes.first?["fixed"] as? String, "  - Conv2D: {out_channels: 8, kernel_size: 3}", "\(fixes)")
        XCTAssertEqual(fixes.last?["fixed"] as? String, "  - Conv2D: {out_channels: 8, kernel_size: 3}", "\(fixes)")
        let remaining = fixes.compactMap { $0["diagnostics_after"] as? Int }
        XCTAssertEqual(remaining.count, 2)
        XCTAssertTrue(remaining[0] < expected.count && remaining[1] < remaining[0], "each fix removes a diagnostic: \(fixes)")

        // The example: no diagnostics, a hover with shapes, completions, inlay hints.
        XCTAssertEqual(results["example_diagnostics"] as? Int, 0)
        XCTAssertEqual(results["example_diagnostics_after_edits"] as? Int, 0)
        let hover = try XCTUnwrap(results["hover"] as? String)
        XCTAssertTrue(hover.contains("1×28×28 → 32×28×28"), hover)
        XCTAssertTrue(hover.contains("parameters: 320"), hover)
        let keyHover = try XCTUnwrap(results["key_hover"] as? String, "a hover on kernel_size")
        XCTAssertTrue(keyHover.contains("kernel_size"), keyHover)
        let layers = try XCTUnwrap(results["layer_completions"] as? [String])
        XCTAssertTrue(layers.contains("Conv2D"), "\(layers)")
        let arguments = try XCTUnwrap(results["argument_completions"] as? [String])
        XCTAssertTrue(arguments.contains("kernel_size"), "\(arguments)")
        XCTAssertFalse(arguments.contains("out_channels"), "a key already written is not offered again: \(arguments)")
        let inlay = try XCTUnwrap(results["inlay"] as? [String])
        XCTAssertEqual(inlay.first, "→ 32×28×28 · Σ 320")
        XCTAssertEqual(inlay.count, 18)
    }

    /// The `nvim` executable on PATH; fails in CI and skips elsewhere when there is none.
    static func neovim() throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/nvim"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        let reason = "nvim is not installed (Debian: apt-get install neovim; .ci/run installs it)"
        if ProcessInfo.processInfo.environment["CI"] == "true" {
            throw CLIError("CI=true and " + reason)
        }
        print("NeovimTests skipped: " + reason)
        throw XCTSkip(reason)
    }
}
