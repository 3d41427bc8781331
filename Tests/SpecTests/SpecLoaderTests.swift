import Foundation
import XCTest
@testable import Spec

final class SpecLoaderTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("cnnc-spec-tests-\(ProcessInfo.processInfo.processIdentifier)-\(name.hashValue)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try FileManager.default.removeItem(at: directory)
    }

    private func write(_ bytes: [UInt8], to file: String) throws -> String {
        let url = directory.appendingPathComponent(file)
        try Data(bytes).write(to: url)
        return url.path
    }

    // MARK: - Files

    func testLoadsValidFileAndNamesModelAfterIt() throws {
        let path = try write(Array("layers: [ReLU]\n".utf8), to: "my-model.yaml")
        let result = loadSpec(path: path)
        XCTAssertEqual(result.diagnostics, [])
        XCTAssertEqual(result.spec?.name, "my-model")
        XCTAssertEqual(result.source.path, path)
    }

    func testExplicitNameWins() throws {
        let path = try write(Array(exampleSpec.utf8), to: "other.yaml")
        XCTAssertEqual(loadSpec(path: path).spec?.name, "mnist-cnn")
    }

    func testMissingFile() {
        let path = directory.appendingPathComponent("nope.yaml").path
        let result = loadSpec(path: path)
        XCTAssertNil(result.spec)
        XCTAssertEqual(result.renderedDiagnostics, "\(path): error: cannot read file: No such file or directory\n")
    }

    func testDirectoryIsNotReadable() {
        let result = loadSpec(path: directory.path)
        XCTAssertEqual(result.renderedDiagnostics, "\(directory.path): error: cannot read file: Is a directory\n")
    }

    func testBinaryFile() throws {
        let path = try write((0...255).map { UInt8($0) }, to: "binary.yaml")
        let result = loadSpec(path: path)
        XCTAssertNil(result.spec)
        XCTAssertEqual(result.renderedDiagnostics, "\(path): error: file is not UTF-8 text (binary?)\n")
    }

    func testInvalidUTF8WithoutNul() throws {
        let path = try write(Array("layers: [ReLU]\n# ".utf8) + [0xC3, 0x28, 0x0A], to: "latin.yaml")
        XCTAssertEqual(loadSpec(path: path).diagnostics, [.error(at: nil, "file is not UTF-8 text (binary?)")])
    }

    func testTenMegabyteFile() throws {
        let path = try write([UInt8](repeating: UInt8(ascii: "#"), count: 10_000_000), to: "huge.yaml")
        let result = loadSpec(path: path)
        XCTAssertNil(result.spec)
        XCTAssertEqual(result.renderedDiagnostics, "\(path): error: file is 10000000 bytes; a spec must be at most 1 MiB (1048576 bytes)\n")
    }

    /// Issue 11, defect 13: one byte over the limit was "file is 1.0 MB; a spec must be under 1 MiB".
    func testOneByteOverOneMebibyteSaysSoExactly() throws {
        let over = try write([UInt8](repeating: UInt8(ascii: "#"), count: maxSpecFileSize + 1), to: "over.yaml")
        XCTAssertEqual(loadSpec(path: over).renderedDiagnostics,
                       "\(over): error: file is 1048577 bytes; a spec must be at most 1 MiB (1048576 bytes)\n")
        let exact = try write([UInt8](repeating: UInt8(ascii: "#"), count: maxSpecFileSize), to: "exact.yaml")
        XCTAssertFalse(loadSpec(path: exact).renderedDiagnostics.contains("1 MiB"), "exactly 1 MiB is allowed")
    }

    func testEmptyFile() throws {
        let path = try write([], to: "empty.yaml")
        XCTAssertEqual(loadSpec(path: path).renderedDiagnostics,
                       "\(path): error: the file is empty; a spec needs at least `layers:`\n")
    }

    func testCRLFFileKeepsLineNumbers() throws {
        let text = "layers:\r\n  - ReLU\r\n  - Sigmoid\r\n"
        let path = try write(Array(text.utf8), to: "crlf.yaml")
        XCTAssertEqual(loadSpec(path: path).renderedDiagnostics, """
        \(path):3:5: error: 'Sigmoid' is not a supported layer
          - Sigmoid
            ^
        hint: supported layers: Linear, Conv2D, MaxPool2D, BatchNorm2D, Dropout, ReLU, Softmax

        """)
    }

    // MARK: - Fuzzing

    /// Checks the invariants every parse must keep, whatever the input.
    private func checkInvariants(_ text: String, file: StaticString = #filePath, line: UInt = #line) {
        let source = SourceFile(path: "fuzz.yaml", text: text)
        let result = parseSpec(source)
        let hasError = result.diagnostics.contains { $0.severity == .error }
        XCTAssertNotEqual(result.spec != nil, hasError, "spec XOR error for \(text.debugDescription)",
                          file: file, line: line)
        for diagnostic in result.diagnostics {
            guard let location = diagnostic.location else { continue }
            XCTAssertTrue(location.line >= 1 && location.line <= max(1, source.lines.count),
                          "line \(location.line) out of range for \(text.debugDescription)", file: file, line: line)
            XCTAssertGreaterThanOrEqual(location.column, 1, file: file, line: line)
            _ = source.render(diagnostic)
        }
    }

    func testFuzzMutationsOfValidSpec() {
        var random = SplitMix64(seed: 0x5EED)
        let original = Array(exampleSpec.utf8)
        let alphabet = Array(" \t\n:-[]{},#'\"&*!|>?%@`0123456789aZ._~\u{7F}".utf8)
        for _ in 0..<2000 {
            var bytes = original
            let mutations = 1 + random.below(4)
            for _ in 0..<mutations {
                mutate(&bytes, with: &random, alphabet: alphabet)
            }
            checkInvariants(String(decoding: bytes, as: UTF8.self))
        }
    }

    func testFuzzRandomByteStrings() {
        var random = SplitMix64(seed: 42)
        for _ in 0..<500 {
            let count = random.below(200)
            var bytes: [UInt8] = []
            for _ in 0..<count {
                bytes.append(UInt8(truncatingIfNeeded: random.next()))
            }
            checkInvariants(String(decoding: bytes, as: UTF8.self))
        }
    }

    private func mutate(_ bytes: inout [UInt8], with random: inout SplitMix64, alphabet: [UInt8]) {
        let position = bytes.isEmpty ? 0 : random.below(bytes.count)
        switch random.below(6) {
        case 0:
            if !bytes.isEmpty {
                bytes.remove(at: position)
            }
        case 1:
            bytes.insert(alphabet[random.below(alphabet.count)], at: position)
        case 2:
            if !bytes.isEmpty {
                bytes[position] = alphabet[random.below(alphabet.count)]
            }
        case 3:
            bytes = Array(bytes.prefix(position))
        case 4:
            var lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            if !lines.isEmpty {
                let index = random.below(lines.count)
                lines.insert(lines[index], at: random.below(lines.count))
            }
            bytes = Array(lines.joined(separator: [UInt8(ascii: "\n")]))
        default:
            var lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            if !lines.isEmpty {
                let index = random.below(lines.count)
                let indent = [UInt8](repeating: UInt8(ascii: " "), count: random.below(7))
                let trimmed = lines[index].drop { $0 == UInt8(ascii: " ") }
                lines[index] = ArraySlice(indent + trimmed)
            }
            bytes = Array(lines.joined(separator: [UInt8(ascii: "\n")]))
        }
    }
}
