import Foundation
import XCTest

/// `cnnc schema`: the committed JSON Schema and the README's layer table are what the layer table
/// generates, every example carries the modeline, and a real validator (`jsonschema` from PyPI)
/// accepts every valid spec and flags the errors in invalid ones.
final class SchemaTests: XCTestCase {
    static let modeline = "# yaml-language-server: $schema=../schema/cnnc-spec.schema.json"

    var schemaPath: String { CLI.packageRoot.appendingPathComponent("schema/cnnc-spec.schema.json").path }

    func testCommittedSchemaIsCnncSchema() throws {
        let result = try CLI.run(["schema"])
        XCTAssertEqual(result.status, 0, result.transcript)
        let committed = try String(contentsOfFile: schemaPath, encoding: .utf8)
        XCTAssertEqual(result.stdout, committed,
                       "schema/cnnc-spec.schema.json is stale: run `cnnc schema > schema/cnnc-spec.schema.json`")
        let json = try CLI.jsonObject(result.stdout)
        XCTAssertEqual(json["$schema"] as? String, "http://json-schema.org/draft-07/schema#")
        XCTAssertEqual(json["additionalProperties"] as? Bool, false)
    }

    func testReadmeLayerTableIsGenerated() throws {
        let result = try CLI.run(["schema", "--readme-table"])
        XCTAssertEqual(result.status, 0, result.transcript)
        let readme = try String(contentsOfFile: CLI.packageRoot.appendingPathComponent("README.md").path, encoding: .utf8)
        let begin = try XCTUnwrap(readme.range(of: "<!-- layer table: generated"), "README lacks the layer table's begin marker")
        let afterBegin = try XCTUnwrap(readme.range(of: "-->\n", range: begin.upperBound..<readme.endIndex))
        let end = try XCTUnwrap(readme.range(of: "<!-- end of layer table -->", range: afterBegin.upperBound..<readme.endIndex))
        XCTAssertEqual(String(readme[afterBegin.upperBound..<end.lowerBound]), result.stdout,
                       "README's layer table is stale: replace it with `cnnc schema --readme-table`")
    }

    func testExamplesStartWithTheModeline() throws {
        let directory = CLI.packageRoot.appendingPathComponent("examples").path
        let files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".yaml") }.sorted()
        XCTAssertFalse(files.isEmpty)
        for file in files {
            let text = try String(contentsOfFile: directory + "/" + file, encoding: .utf8)
            XCTAssertEqual(text.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init), Self.modeline,
                           "examples/\(file) must start with the yaml-language-server modeline")
        }
    }

    /// Specs under `directory` (relative to the package root), sorted.
    private func specs(in directory: String) throws -> [String] {
        let path = CLI.packageRoot.appendingPathComponent(directory).path
        return try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasSuffix(".yaml") }.sorted()
            .map { path + "/" + $0 }
    }

    /// Runs scripts/validate-schema.py; returns each file's error paths.
    private func validate(_ files: [String]) throws -> [String: [String]] {
        let python = ProcessInfo.processInfo.environment["CNNC_SCHEMA_PYTHON"] ?? "python3"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let script = CLI.packageRoot.appendingPathComponent("scripts/validate-schema.py").path
        process.arguments = [python, script, schemaPath] + files
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CLIError("""
                \(python) scripts/validate-schema.py failed (exit \(process.terminationStatus)); it needs the `jsonschema` \
                and `pyyaml` packages (.ci/run installs them and sets CNNC_SCHEMA_PYTHON):
                \(errors)
                """)
        }
        let object = try JSONSerialization.jsonObject(with: data)
        return try XCTUnwrap(object as? [String: [String]], String(decoding: data, as: UTF8.self))
    }

    func testValidSpecsValidateAndCheck() throws {
        let files = try specs(in: "examples") + specs(in: "Tests/Fixtures/schema/valid")
        XCTAssertGreaterThanOrEqual(files.count, 6)
        let report = try validate(files)
        for file in files {
            XCTAssertEqual(report[file], [], "\(file) should validate against the schema")
        }
        let check = try CLI.run(["check"] + files)
        XCTAssertEqual(check.status, 0, "cnnc check should accept every valid spec too\n\(check.transcript)")
    }

    /// Each invalid spec names (`# expect: PATH` lines) the JSON paths the validator must flag.
    func testInvalidSpecsAreFlagged() throws {
        let files = try specs(in: "Tests/Fixtures/schema/invalid")
        XCTAssertGreaterThanOrEqual(files.count, 8)
        let report = try validate(files)
        for file in files {
            let text = try String(contentsOfFile: file, encoding: .utf8)
            let expected = text.split(separator: "\n").filter { $0.hasPrefix("# expect: ") }.map { String($0.dropFirst(10)) }
            XCTAssertFalse(expected.isEmpty, "\(file) lacks `# expect:` lines")
            let found = report[file] ?? []
            for path in expected {
                XCTAssertTrue(found.contains(path), "\(file): expected an error at \(path), the validator found \(found)")
            }
            let check = try CLI.run(["check", file])
            XCTAssertEqual(check.status, 1, "cnnc check should reject \(file) too\n\(check.transcript)")
        }
    }
}
