// libFuzzer entry for the language server's input (`cnnc lsp`): bytes as a client's stream →
// Content-Length framing (MessageReader) → JSON (Runtime's JSON.parse) → JSON-RPC dispatch and the
// LSP handlers (LanguageServer: didOpen/didChange analyse the spec, hover, completion, …), the same
// loop as LanguageServer.serveStandardStreams. Built by `scripts/fuzz jsonrpc SECONDS`, which
// compiles Sources/cnnc/LanguageServer/*.swift into this fuzzer (they live in the executable target,
// which a fuzzer cannot link). Any stream must end in replies or the end of input, never in a trap,
// a hang or a memory error; every message the server sends must render to JSON that parses back.
import Glibc
import Graph
import Runtime
import Spec

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSONRPC(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    // The stream reaches the reader through a pipe, as stdin does; a Linux pipe holds 64 KiB, so
    // the whole input is written before the first read.
    guard size <= 1 << 16 else { return 0 }
    var ends: [Int32] = [-1, -1]
    precondition(pipe(&ends) == 0, "pipe failed")
    var written = 0
    while written < size {
        let count = write(ends[1], data + written, size - written)
        precondition(count > 0, "writing to the pipe failed")
        written += count
    }
    close(ends[1])
    defer { close(ends[0]) }

    let server = LanguageServer { message in
        let text = message.rendered()
        precondition((try? JSON.parse(text)) != nil, "the server sent JSON it cannot parse: \(text.prefix(200))")
    }
    var reader = MessageReader(descriptor: ends[0])
    reading: while server.exitStatus == nil {
        switch reader.next() {
        case let .message(body):
            server.receive(body)
        case let .malformed(reason):
            server.reply(id: .null, error: LanguageServer.Failure(code: .parseError, message: reason))
        case .end:
            break reading
        }
    }
    return 0
}
