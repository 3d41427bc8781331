import XCTest
@testable import Graph
import Spec

/// Compiles spec text held in memory as `t.yaml`.
func compile(_ yaml: String, path: String = "t.yaml", dropout: Double? = nil) -> Compilation {
    Compilation.compile(source: SourceFile(path: path, text: yaml), dropout: dropout)
}

/// The graph of `yaml`, failing the test with the rendered diagnostics when there is none.
func compiledGraph(_ yaml: String, file: StaticString = #filePath, line: UInt = #line) throws -> Graph {
    let compilation = compile(yaml)
    XCTAssertEqual(compilation.diagnostics, [], compilation.renderedDiagnostics, file: file, line: line)
    return try XCTUnwrap(compilation.graph, compilation.renderedDiagnostics, file: file, line: line)
}

/// The repository root, found from this file's path (Tests/GraphTests/Helpers.swift).
let repositoryRoot: String = {
    var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)
    return parts.joined(separator: "/")
}()

let exampleNames = ["mnist", "lenet", "strided", "lenet-wide"]

func examplePath(_ name: String) -> String {
    "\(repositoryRoot)/examples/\(name).yaml"
}

func exampleGraph(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> Graph {
    let compilation = Compilation.compile(path: examplePath(name))
    XCTAssertEqual(compilation.diagnostics, [], compilation.renderedDiagnostics, file: file, line: line)
    return try XCTUnwrap(compilation.graph, compilation.renderedDiagnostics, file: file, line: line)
}
