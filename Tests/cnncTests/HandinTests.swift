import Foundation
import Graph
import Runtime
import Spec
import XCTest

/// End-to-end tests of the hand-in commands (`eval`, `export`, `report`) on one short real run
/// (2,000 training images, 1 epoch) and a two-value sweep, both trained once for the class.
final class HandinTests: XCTestCase {
    /// Every layer kind, an implicit flatten (which shifts later state_dict indices), a per-layer
    /// weight decay and a final Softmax.
    static let spec = """
        name: handin
        input: [1, 28, 28]
        layers:
          - Conv2D: {out_channels: 4, kernel_size: 3, padding: 1}
          - BatchNorm2D
          - ReLU
          - MaxPool2D: {kernel_size: 2}
          - Dropout: {p: 0.1}
          - Linear: {out_features: 10, weight_decay: 0.0005}
          - Softmax
        train:
          epochs: 2
          batch_size: 32

        """

    static var scratch = ""
    static var run = ""
    static var sweep = ""
    static var setupError: Error?

    override class func setUp() {
        do {
            let data = try CLI.mnistDirectory()
            scratch = try CLI.temporaryDirectory(prefix: "cnnc-handin")
            let specPath = try CLI.write(spec, named: "handin.yaml", in: scratch)
            run = scratch + "/run"
            let trained = try CLI.run(["train", specPath, "--data", data, "--no-download", "--out", run, "--epochs", "1",
                                       "--limit", "2000", "--val", "500", "--threads", "2", "--quiet"])
            guard trained.status == 0 else { throw CLIError("training failed\n\(trained.transcript)") }
            sweep = scratch + "/sweep"
            let swept = try CLI.run(["sweep", specPath, "--data", data, "--no-download", "--out", sweep, "--dropout", "0,0.5",
                                     "--limit", "1000", "--val", "500", "--threads", "2", "--quiet"])
            guard swept.status == 0 else { throw CLIError("sweep failed\n\(swept.transcript)") }
        } catch {
            setupError = error
        }
    }

    override class func tearDown() {
        if !scratch.isEmpty { try? FileManager.default.removeItem(atPath: scratch) }
    }

    override func setUpWithError() throws {
        if let error = HandinTests.setupError { throw error }
    }

    func json(_ path: String) throws -> [String: Any] {
        try CLI.jsonObject(try String(contentsOfFile: path, encoding: .utf8))
    }

    /// A copy of the run directory to damage.
    func copyOfRun() throws -> String {
        let copy = try CLI.temporaryDirectory(prefix: "cnnc-handin-copy") + "/run"
        try FileManager.default.copyItem(atPath: HandinTests.run, toPath: copy)
        return copy
    }

    // MARK: - eval

    func testEvalReproducesTheRunsAccuracyAndWritesItsFiles() throws {
        let data = try CLI.mnistDirectory()
        let result = try CLI.run(["eval", HandinTests.run, "--data", data])
        XCTAssertEqual(result.status, 0, result.transcript)
        XCTAssertTrue(result.stdout.contains("equal to summary.json"), result.transcript)
        XCTAssertTrue(result.stdout.contains("confusion matrix"), result.transcript)
        let summary = try json(HandinTests.run + "/summary.json")
        let eval = try json(HandinTests.run + "/eval.json")
        let test = try XCTUnwrap(eval["test"] as? [String: Any])
        XCTAssertEqual(test["accuracy"] as? Double, summary["final_test_accuracy"] as? Double, "to the last digit")
        XCTAssertEqual(eval["matches_summary"] as? Bool, true)
        let validation = try XCTUnwrap(eval["validation"] as? [String: Any], "the run held out 500 images")
        XCTAssertEqual(validation["accuracy"] as? Double, summary["final_validation_accuracy"] as? Double)
        XCTAssertEqual(validation["images"] as? Int, 500)
        // The confusion matrix counts every test image once; its diagonal is the correct count.
        let confusion = try XCTUnwrap(test["confusion"] as? [[Int]])
        XCTAssertEqual(confusion.flatMap { $0 }.reduce(0, +), 10_000)
        XCTAssertEqual((0..<10).map { confusion[$0][$0] }.reduce(0, +), test["correct"] as? Int)
        let perClass = try XCTUnwrap(test["per_class"] as? [[String: Any]])
        XCTAssertEqual(perClass.compactMap { $0["support"] as? Int }, confusion.map { $0.reduce(0, +) })
        // MNIST's test set has 980 zeros and 1,135 ones (the data set's documented counts).
        XCTAssertEqual(perClass[0]["support"] as? Int, 980)
        XCTAssertEqual(perClass[1]["support"] as? Int, 1135)
        let mistakes = try XCTUnwrap(eval["mistakes"] as? [[String: Any]])
        XCTAssertEqual(mistakes.count, 25)
        let confidences = mistakes.compactMap { $0["confidence"] as? Double }
        XCTAssertEqual(confidences, confidences.sorted(by: >), "most confident first")
        for m in mistakes { XCTAssertNotEqual(m["label"] as? Int, m["predicted"] as? Int) }
        let svg = try String(contentsOfFile: HandinTests.run + "/confusion.svg", encoding: .utf8)
        XCTAssertTrue(svg.contains(">predicted label</text>") && svg.contains(">true label</text>"))
        try assertPDF(HandinTests.run + "/confusion.pdf")
        try assertPDF(HandinTests.run + "/curves.pdf")
        let png = Array(try Data(contentsOf: URL(fileURLWithPath: HandinTests.run + "/mistakes.png")))
        XCTAssertEqual(Array(png.prefix(8)), [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
        // --json prints eval.json.
        let jsonRun = try CLI.run(["eval", HandinTests.run, "--data", data, "--json"])
        XCTAssertEqual(jsonRun.status, 0, jsonRun.transcript)
        XCTAssertEqual(try CLI.jsonObject(jsonRun.stdout)["name"] as? String, "handin")
    }

    func testPDFsOfTheSweepAreValid() throws {
        try assertPDF(HandinTests.sweep + "/sweep.pdf")
    }

    // MARK: - export

    func testPyTorchExportMatchesTheStateDictNames() throws {
        let out = try CLI.temporaryDirectory(prefix: "cnnc-export") + "/model.py"
        let result = try CLI.run(["export", HandinTests.run, "--pytorch", out])
        XCTAssertEqual(result.status, 0, result.transcript)
        let python = try String(contentsOfFile: out, encoding: .utf8)
        // Module i of the Sequential, as the "# [i]" comment marks it.
        var modules: [Int: String] = [:]
        for line in python.split(separator: "\n") where line.contains("),  # [") {
            let text = line.trimmingCharacters(in: .whitespaces)
            let index = Int(text.split(separator: "[").last!.dropLast())!
            modules[index] = String(text.prefix { $0 != "(" })
        }
        XCTAssertEqual(modules, [0: "nn.Conv2d", 1: "nn.BatchNorm2d", 2: "nn.ReLU", 3: "nn.MaxPool2d", 4: "nn.Dropout",
                                 5: "nn.Flatten", 6: "nn.Linear", 7: "nn.Softmax"])
        // Every tensor cnnc wrote belongs to a module of the matching kind at that index.
        let (tensors, _) = try readSafetensors(path: HandinTests.run + "/weights.safetensors")
        let kinds = ["weight": ["nn.Conv2d", "nn.BatchNorm2d", "nn.Linear"], "bias": ["nn.Conv2d", "nn.BatchNorm2d", "nn.Linear"],
                     "running_mean": ["nn.BatchNorm2d"], "running_var": ["nn.BatchNorm2d"], "num_batches_tracked": ["nn.BatchNorm2d"]]
        for tensor in tensors {
            let parts = tensor.name.split(separator: ".")
            let module = modules[Int(parts[0])!]
            XCTAssertTrue(kinds[String(parts[1])]?.contains(module ?? "") ?? false, "\(tensor.name) → \(module ?? "none")")
        }
        XCTAssertTrue(python.contains("PARAMETERS = 7898"), "conv 4·9+4, batch norm 2·4, linear 784·10+10")
        XCTAssertTrue(python.contains("WEIGHT_DECAY = {0: 0.0, 1: 0.0, 6: 0.0005}"), python)
        XCTAssertTrue(python.contains("model.load_state_dict(load_file(path), strict=True)"))
        XCTAssertTrue(python.contains("F.cross_entropy(model[:-1](images), labels)"), "Softmax trained on its logits")
        XCTAssertTrue(python.contains("# handin.yaml:4  - Conv2D: {out_channels: 4, kernel_size: 3, padding: 1}  -> 4×28×28"), python)
        // The file is valid Python.
        let check = Process()
        check.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        check.arguments = ["python3", "-c", "import ast, sys; ast.parse(open(sys.argv[1]).read())", out]
        try check.run()
        check.waitUntilExit()
        XCTAssertEqual(check.terminationStatus, 0, "python3 parses the exported file")
    }

    func testONNXExportIsAnONNXModelProto() throws {
        let out = try CLI.temporaryDirectory(prefix: "cnnc-export") + "/model.onnx"
        let result = try CLI.run(["export", HandinTests.run, "--onnx", out])
        XCTAssertEqual(result.status, 0, result.transcript)
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: out)))
        XCTAssertEqual(Array(bytes.prefix(2)), [0x08, 0x07], "ModelProto.ir_version = 7 first")
        // The onnx checker and onnxruntime comparison run in .ci/run (scripts/check-onnx-ci).
        let spec = try CLI.run(["export", CLI.example("mnist.yaml"), "--onnx", out + "2"])
        XCTAssertEqual(spec.status, 1, "a spec has no weights to export")
        XCTAssertTrue(spec.stderr.contains("needs a run directory"), spec.transcript)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "2"))
    }

    // MARK: - bad input

    /// `cnnc eval` and `cnnc export` on a damaged run: exit 1, one line naming file and tensor, nothing written.
    func assertRejected(_ run: String, _ fragments: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        let data = try CLI.mnistDirectory()
        let out = try CLI.temporaryDirectory(prefix: "cnnc-export") + "/model.py"
        for arguments in [["eval", run, "--data", data], ["export", run, "--pytorch", out]] {
            let result = try CLI.run(arguments, file: file, line: line)
            XCTAssertEqual(result.status, 1, result.transcript, file: file, line: line)
            let lines = result.stderr.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, "one line\n\(result.transcript)", file: file, line: line)
            for fragment in fragments {
                XCTAssertTrue(result.stderr.contains(fragment), "'\(fragment)' in\n\(result.transcript)", file: file, line: line)
            }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out), "nothing written", file: file, line: line)
        XCTAssertFalse(FileManager.default.fileExists(atPath: run + "/eval.json"), "nothing written", file: file, line: line)
    }

    func rewriteWeights(_ run: String, _ change: (inout [SafetensorsTensor]) -> Void) throws {
        var (tensors, metadata) = try readSafetensors(path: run + "/weights.safetensors")
        change(&tensors)
        try writeSafetensors(tensors, metadata: metadata, to: run + "/weights.safetensors")
    }

    func testBadWeightsAreRejectedWithOneLineNamingFileAndTensor() throws {
        var run = try copyOfRun()
        try? FileManager.default.removeItem(atPath: run + "/eval.json")
        try FileManager.default.removeItem(atPath: run + "/weights.safetensors")
        try assertRejected(run, ["weights.safetensors", "missing"])

        run = try copyOfRun()
        try? FileManager.default.removeItem(atPath: run + "/eval.json")
        try rewriteWeights(run) { $0.removeAll { $0.name == "6.bias" } }
        try assertRejected(run, ["weights.safetensors", "'6.bias'", "missing"])

        run = try copyOfRun()
        try? FileManager.default.removeItem(atPath: run + "/eval.json")
        try rewriteWeights(run) { $0.append(SafetensorsTensor(name: "9.weight", shape: [1], payload: .float32([0]))) }
        try assertRejected(run, ["weights.safetensors", "unexpected tensor '9.weight'"])

        run = try copyOfRun()
        try? FileManager.default.removeItem(atPath: run + "/eval.json")
        try rewriteWeights(run) { tensors in
            let i = tensors.firstIndex { $0.name == "0.weight" }!
            tensors[i] = SafetensorsTensor(name: "0.weight", shape: [4, 1, 9], payload: tensors[i].payload)
        }
        try assertRejected(run, ["weights.safetensors", "'0.weight'", "[4, 1, 9]", "[4, 1, 3, 3]"])

        run = try copyOfRun()
        try? FileManager.default.removeItem(atPath: run + "/eval.json")
        try rewriteWeights(run) { tensors in
            let i = tensors.firstIndex { $0.name == "1.num_batches_tracked" }!
            tensors[i] = SafetensorsTensor(name: "1.num_batches_tracked", shape: [], payload: .float32([63]))
        }
        try assertRejected(run, ["weights.safetensors", "'1.num_batches_tracked'", "dtype F32", "expected I64"])

        run = try copyOfRun()
        try? FileManager.default.removeItem(atPath: run + "/eval.json")
        let path = run + "/weights.safetensors"
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        try bytes.prefix(bytes.count - 100).write(to: URL(fileURLWithPath: path))
        try assertRejected(run, ["weights.safetensors"])
    }

    func testExistingOutputsAreNotOverwritten() throws {
        let directory = try CLI.temporaryDirectory(prefix: "cnnc-export")
        let existing = try CLI.write("keep me\n", named: "model.py", in: directory)
        let export = try CLI.run(["export", HandinTests.run, "--pytorch", existing])
        XCTAssertEqual(export.status, 1, export.transcript)
        XCTAssertTrue(export.stderr.contains("model.py") && export.stderr.contains("already exists"), export.transcript)
        let report = try CLI.run(["report", HandinTests.run, "--out", existing])
        XCTAssertEqual(report.status, 1, report.transcript)
        XCTAssertEqual(try String(contentsOfFile: existing, encoding: .utf8), "keep me\n")
    }

    // MARK: - report

    func testReportInMarkdownAndLaTeX() throws {
        let data = try CLI.mnistDirectory()
        XCTAssertEqual(try CLI.run(["eval", HandinTests.run, "--data", data]).status, 0)
        let markdown = try CLI.run(["report", HandinTests.run, HandinTests.sweep])
        XCTAssertEqual(markdown.status, 0, markdown.transcript)
        XCTAssertTrue(markdown.stdout.contains("| class | precision | recall | F1 | support |"), markdown.stdout)
        XCTAssertTrue(markdown.stdout.contains("confusion.svg)"), markdown.stdout)
        XCTAssertTrue(markdown.stdout.contains("mistakes.png)"), markdown.stdout)
        XCTAssertTrue(markdown.stdout.contains("selected on validation accuracy"), markdown.stdout)
        XCTAssertTrue(markdown.stdout.contains("1 (spec: 2)"), "says fewer epochs than the spec\n\(markdown.stdout)")

        let directory = try CLI.temporaryDirectory(prefix: "cnnc-report")
        let tex = directory + "/results.tex"
        let latex = try CLI.run(["report", HandinTests.run, HandinTests.sweep, "--format", "latex", "--out", tex])
        XCTAssertEqual(latex.status, 0, latex.transcript)
        let text = try String(contentsOfFile: tex, encoding: .utf8)
        for fragment in ["\\toprule", "\\midrule", "\\bottomrule", "\\includegraphics", "confusion.pdf}", "sweep.pdf}", "curves.pdf}",
                         "\\caption{", "\\textbf{"] {
            XCTAssertTrue(text.contains(fragment), "\(fragment) in\n\(text)")
        }
        XCTAssertFalse(text.contains(".svg"), "LaTeX includes PDF, not SVG")
        // Figure paths are relative to the report file and resolve from there.
        for line in text.split(separator: "\n") where line.contains("\\includegraphics") {
            let path = String(line.split(separator: "{").last!.dropLast())
            XCTAssertTrue(FileManager.default.fileExists(atPath: directory + "/" + path), "\(path) from \(directory)")
        }
        try compileLaTeX(text, in: directory)
    }

    /// Compiles the report inside a minimal document when pdflatex is installed (Debian's
    /// texlive-latex-recommended); otherwise skips with the reason printed.
    func compileLaTeX(_ body: String, in directory: String) throws {
        let which = Process()
        which.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        which.arguments = ["sh", "-c", "command -v pdflatex"]
        try which.run()
        which.waitUntilExit()
        guard which.terminationStatus == 0 else {
            throw XCTSkip("pdflatex is not installed: the LaTeX report was checked textually but not compiled")
        }
        let document = "\\documentclass{article}\n\\usepackage{booktabs,graphicx}\n\\begin{document}\n\\input{results}\n\\end{document}\n"
        _ = try CLI.write(document, named: "main.tex", in: directory)
        let latex = Process()
        latex.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        latex.arguments = ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "main.tex"]
        latex.currentDirectoryURL = URL(fileURLWithPath: directory)
        latex.standardOutput = FileHandle.nullDevice
        try latex.run()
        latex.waitUntilExit()
        XCTAssertEqual(latex.terminationStatus, 0, "pdflatex compiles the report (see \(directory)/main.log)")
    }

    func assertPDF(_ path: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["pdfinfo", path]
        let errors = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = errors
        try process.run()
        process.waitUntilExit()
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(process.terminationStatus, 0, "pdfinfo (poppler-utils) accepts \(path): \(stderr)", file: file, line: line)
        XCTAssertEqual(stderr, "", file: file, line: line)
    }
}
