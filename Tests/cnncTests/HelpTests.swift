import Foundation
import XCTest

/// `--help` and the README say the same: each command's row in the README's command table lists
/// the flags its `--help` lists, near-miss flags get a "Did you mean", and scripts point at README
/// sections that exist.
final class HelpTests: XCTestCase {
    static let commands = ["check", "train", "sweep", "bench", "download", "schema"]

    private func readme() throws -> String {
        try String(contentsOfFile: CLI.packageRoot.appendingPathComponent("README.md").path, encoding: .utf8)
    }

    /// `--name` tokens in `text`, without `--help` and `--version`.
    private func flags(in text: Substring) -> Set<String> {
        var found = Set<String>()
        var rest = text[...]
        while let range = rest.range(of: "--") {
            let name = rest[range.upperBound...].prefix { $0.isLetter || $0.isNumber || $0 == "-" }
            if let first = name.first, first.isLetter { found.insert("--" + name) }
            rest = rest[range.upperBound...]
        }
        return found.subtracting(["--help", "--version"])
    }

    func testReadmeCommandTableListsEveryFlagOfHelp() throws {
        let readme = try readme()
        for command in Self.commands {
            let result = try CLI.run([command, "--help"])
            XCTAssertEqual(result.status, 0, result.transcript)
            let options = result.stdout.range(of: "OPTIONS:").map { result.stdout[$0.upperBound...] } ?? ""
            let helpFlags = flags(in: options)
            let row = try XCTUnwrap(readme.split(separator: "\n").first { $0.hasPrefix("| `cnnc \(command)") },
                                    "README's command table has no row for \(command)")
            // The first cell: from the opening backtick to the closing "` |" (flags may contain `\|`).
            let cellEnd = row.range(of: "` |")?.lowerBound ?? row.endIndex
            let synopsis = row[row.startIndex..<cellEnd]
            let readmeFlags = flags(in: synopsis)
            XCTAssertTrue(readmeFlags.isSubset(of: helpFlags),
                          "README lists \(readmeFlags.subtracting(helpFlags).sorted()) that `cnnc \(command) --help` lacks")
            if !synopsis.contains("…") {
                XCTAssertTrue(helpFlags.isSubset(of: readmeFlags),
                              "README's \(command) row lacks \(helpFlags.subtracting(readmeFlags).sorted()) from --help")
            }
        }
    }

    func testHelpSaysWhatEachCommandWrites() throws {
        let train = try CLI.run(["train", "--help"])
        XCTAssertFalse(train.stdout.contains("sweep.json"), "train --help must not describe sweep outputs\n\(train.stdout)")
        XCTAssertTrue(train.stdout.contains("summary.json"), train.stdout)
        let sweep = try CLI.run(["sweep", "--help"])
        XCTAssertTrue(sweep.stdout.contains("sweep.json"), sweep.stdout)
        XCTAssertTrue(sweep.stdout.contains("default 1 per run"), "sweep --help must give its epochs default\n\(sweep.stdout)")
    }

    func testNearMissFlagsSuggestTheRealFlag() throws {
        let spec = CLI.example("lenet.yaml")
        for (arguments, flag) in [(["train", spec, "--learning-rate", "0.1"], "--lr"),
                                  (["sweep", spec, "--dropout", "0", "--num-epochs", "2"], "--epochs"),
                                  (["check", spec, "--batch_size", "8"], "--batch-size"),
                                  (["train", spec, "--output-dir", "x"], "--out")] {
            let result = try CLI.run(arguments)
            XCTAssertEqual(result.status, 2, result.transcript)
            XCTAssertTrue(result.stderr.contains("Did you mean '\(flag)'?"), "\(arguments): \(result.stderr)")
        }
        // A synonym whose flag the command does not have gets no suggestion.
        let check = try CLI.run(["check", spec, "--learning-rate", "0.1"])
        XCTAssertEqual(check.status, 2, check.transcript)
        XCTAssertFalse(check.stderr.contains("Did you mean"), check.stderr)
    }

    func testScriptsPointAtExistingReadmeSections() throws {
        let readme = try readme()
        let headings = Set(readme.split(separator: "\n").filter { $0.hasPrefix("#") }
            .map { $0.drop { $0 == "#" }.trimmingCharacters(in: .whitespaces) })
        let directory = CLI.packageRoot.appendingPathComponent("scripts").path
        for file in try FileManager.default.contentsOfDirectory(atPath: directory) {
            let text = try String(contentsOfFile: directory + "/" + file, encoding: .utf8)
            var rest = text[...]
            while let range = rest.range(of: "README: \"") {
                let title = rest[range.upperBound...].prefix { $0 != "\"" }
                XCTAssertTrue(headings.contains(String(title)), "scripts/\(file) points at README section \"\(title)\", which does not exist")
                rest = rest[range.upperBound...]
            }
        }
    }
}
