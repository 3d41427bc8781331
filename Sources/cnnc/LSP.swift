import ArgumentParser

struct LSP: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lsp",
        abstract: "Run the language server for editors (LSP 3.17, JSON-RPC over stdin/stdout).",
        discussion: """
            Speaks the Language Server Protocol on standard input and output: live diagnostics \
            (the same as `cnnc check`), hover with shapes, parameters and MACs, inlay hints, \
            completion, quick fixes and a layer outline. Editors start it; see README.md, "Editor support".
            """)

    @Flag(help: "Talk over stdin/stdout (the only transport; accepted because LSP clients pass it).")
    var stdio = false

    func run() throws {
        let status = LanguageServer.serveStandardStreams()
        if status != 0 { throw ExitCode(status) }
    }
}
