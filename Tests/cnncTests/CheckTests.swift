import Foundation
import XCTest

/// End-to-end tests of `cnnc check`: summaries, JSON, diagnostics and exit codes.
final class CheckTests: XCTestCase {
    var scratch = ""

    override func setUpWithError() throws {
        scratch = try CLI.temporaryDirectory(prefix: "cnnc-check")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: scratch)
    }

    // MARK: - Valid specs

    func testExamplesAreValidWithExactParameterCounts() throws {
        let files = ["mnist.yaml", "lenet.yaml", "strided.yaml"].map(CLI.example)
        let result = try CLI.run(["check"] + files)
        XCTAssertEqual(result.status, 0, result.transcript)
        XCTAssertEqual(result.stderr, "", "valid examples should produce no diagnostics\n\(result.transcript)")
        for (file, name, params) in [(files[0], "mnist-cnn", "468,202"), (files[1], "lenet", "61,706"),
                                     (files[2], "strided", "28,970")] {
            XCTAssertTrue(result.stdout.contains("\(name) (\(file))"), "missing title for \(name)\n\(result.transcript)")
            XCTAssertTrue(result.stdout.contains("parameters  \(params) ("), "missing count \(params)\n\(result.transcript)")
        }
        let headers = result.stdout.split(separator: "\n").filter { line in
            let words = line.split(separator: " ").map(String.init)
            return words == ["#", "name", "layer", "settings", "output", "params", "share", "RF", "MACs"]
        }
        XCTAssertEqual(headers.count, 3, "one table header per spec\n\(result.stdout)")
        XCTAssertTrue(result.stdout.contains("training arena"), result.stdout)
        XCTAssertTrue(result.stdout.contains("under the limit of fewer than 1,000,000"), result.stdout)
    }

    func testSummaryListsTheImplicitFlatten() throws {
        let result = try CLI.run(["check", CLI.example("lenet.yaml")])
        XCTAssertEqual(result.status, 0, result.transcript)
        let rows = result.stdout.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        // "  6  flatten_6  Flatten  400" (no parameters, no MACs).
        XCTAssertTrue(rows.contains(["6", "flatten_6", "Flatten", "400", "0", "0"]), result.stdout)
        // Settings, share of the 61,706 parameters and receptive field for convolutions and pooling.
        XCTAssertTrue(rows.contains(["0", "conv2d_0", "Conv2D", "k5", "s1", "p2", "6×28×28", "156", "0.3%", "5", "117,600"]),
                      result.stdout)
        XCTAssertTrue(rows.contains(["5", "maxpool2d_5", "MaxPool2D", "k2", "s2", "p0", "16×5×5", "0", "16", "0"]), result.stdout)
        XCTAssertTrue(rows.contains(["9", "dropout_9", "Dropout", "p", "0.2", "120", "0", "0"]), result.stdout)
        XCTAssertTrue(rows.contains(["12", "linear_12", "Linear", "10", "850", "1.4%", "840"]), result.stdout)
        XCTAssertTrue(result.stdout.contains("61,706 trainable, 0 non-trainable"), result.stdout)
    }

    func testJSONContract() throws {
        let file = CLI.example("mnist.yaml")
        let result = try CLI.run(["check", "--json", file])
        XCTAssertEqual(result.status, 0, result.transcript)
        let json = try CLI.jsonObject(result.stdout)
        XCTAssertEqual(json["name"] as? String, "mnist-cnn")
        XCTAssertEqual(json["params"] as? Int, 468_202)
        XCTAssertEqual((json["input"] as? [Any])?.ints, [1, 28, 28])
        XCTAssertEqual(json["valid"] as? Bool, true)
        XCTAssertEqual((json["diagnostics"] as? [Any])?.count, 0, "diagnostics must be an empty array")
        let macs = try XCTUnwrap(json["macs"] as? Int)
        XCTAssertGreaterThan(macs, 0)

        let layers = try XCTUnwrap(json["layers"] as? [[String: Any]], "layers must be an array of objects")
        // 18 layers in the spec plus the implicit Flatten before the first Linear.
        XCTAssertEqual(layers.count, 19)
        XCTAssertEqual(layers.map { $0["index"] as? Int }, (0..<19).map { $0 })
        let kinds = layers.compactMap { $0["kind"] as? String }
        XCTAssertEqual(kinds, ["Conv2D", "BatchNorm2D", "ReLU", "Conv2D", "BatchNorm2D", "ReLU", "MaxPool2D",
                               "Conv2D", "BatchNorm2D", "ReLU", "Conv2D", "BatchNorm2D", "ReLU", "MaxPool2D",
                               "Flatten", "Linear", "ReLU", "Dropout", "Linear"])
        for layer in layers {
            for key in ["index", "name", "kind", "output_shape", "params", "macs"] {
                XCTAssertNotNil(layer[key], "layer \(layer) lacks '\(key)'")
            }
            XCTAssertNotNil(layer["name"] as? String)
        }
        XCTAssertEqual((layers[0]["output_shape"] as? [Any])?.ints, [32, 28, 28], "output_shape has no batch dimension")
        XCTAssertEqual(layers[0]["params"] as? Int, 32 * 9 + 32)
        XCTAssertEqual(layers[0]["macs"] as? Int, 32 * 28 * 28 * 9)
        XCTAssertEqual((layers[6]["output_shape"] as? [Any])?.ints, [32, 14, 14])
        XCTAssertEqual((layers[14]["output_shape"] as? [Any])?.ints, [64 * 7 * 7])
        XCTAssertEqual(layers[14]["params"] as? Int, 0)
        XCTAssertEqual((layers[18]["output_shape"] as? [Any])?.ints, [10])
        XCTAssertEqual(layers[18]["params"] as? Int, 128 * 10 + 10)
        XCTAssertEqual(layers.compactMap { $0["params"] as? Int }.reduce(0, +), 468_202, "per-layer params add up")
        XCTAssertEqual(layers.compactMap { $0["macs"] as? Int }.reduce(0, +), macs, "per-layer MACs add up")

        let memory = try XCTUnwrap(json["memory"] as? [String: Any])
        for key in ["training_arena_bytes", "training_naive_bytes", "evaluation_arena_bytes", "parameter_bytes",
                    "gradient_bytes", "optimizer_state_bytes"] {
            let value = try XCTUnwrap(memory[key] as? Int, "memory.\(key)")
            XCTAssertGreaterThan(value, 0, "memory.\(key)")
        }
        XCTAssertEqual(memory["parameter_bytes"] as? Int, 468_202 * 4)
        XCTAssertEqual(memory["batch_size"] as? Int, 32)
        XCTAssertLessThanOrEqual(try XCTUnwrap(memory["training_arena_bytes"] as? Int),
                                 try XCTUnwrap(memory["training_naive_bytes"] as? Int))
    }

    func testJSONForSeveralFilesIsAnArray() throws {
        let result = try CLI.run(["check", "--json", CLI.example("lenet.yaml"), CLI.example("strided.yaml")])
        XCTAssertEqual(result.status, 0, result.transcript)
        let array = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
        XCTAssertEqual(array.map { $0["name"] as? String }, ["lenet", "strided"])
        XCTAssertEqual(array.map { $0["params"] as? Int }, [61_706, 28_970])
    }

    func testPlanListsTensors() throws {
        let result = try CLI.run(["check", "--plan", CLI.example("lenet.yaml")])
        XCTAssertEqual(result.status, 0, result.transcript)
        XCTAssertTrue(result.stdout.contains("training plan at batch 32"), result.stdout)
        let header = result.stdout.split(separator: "\n").first { line in
            line.split(separator: " ").map(String.init) == ["tensor", "role", "elements", "bytes", "offset", "live"]
        }
        XCTAssertNotNil(header, "missing the tensor table header\n\(result.stdout)")
        let afterHeader = result.stdout.components(separatedBy: "tensor").dropFirst().joined()
        XCTAssertGreaterThan(afterHeader.split(separator: "\n").count, 10, "the plan should list many tensors\n\(result.stdout)")
    }

    // MARK: - Diagnostics

    /// Asserts `FILE:LINE:COL: error:` followed by the quoted source line and a caret under COL.
    func assertDiagnostic(_ result: CLIResult, path: String, line: Int, column: Int, contains message: String,
                          file: StaticString = #filePath, lineNumber: UInt = #line) throws {
        XCTAssertEqual(result.status, 1, result.transcript, file: file, line: lineNumber)
        let lines = result.stderr.components(separatedBy: "\n")
        let prefix = "\(path):\(line):\(column): error: "
        guard let at = lines.firstIndex(where: { $0.hasPrefix(prefix) }) else {
            XCTFail("stderr lacks '\(prefix)…'\n\(result.transcript)", file: file, line: lineNumber)
            return
        }
        XCTAssertTrue(lines[at].contains(message), "expected '\(message)' in '\(lines[at])'", file: file, line: lineNumber)
        let source = try String(contentsOfFile: path, encoding: .utf8).components(separatedBy: "\n")
        XCTAssertGreaterThan(lines.count, at + 2, result.stderr, file: file, line: lineNumber)
        guard lines.count > at + 2 else { return }
        XCTAssertEqual(lines[at + 1], source[line - 1], "the offending source line is quoted", file: file, line: lineNumber)
        XCTAssertEqual(lines[at + 2], String(repeating: " ", count: column - 1) + "^", "caret under column \(column)",
                       file: file, line: lineNumber)
    }

    /// The 1-based column of `needle` in line `line` of `text`.
    func column(of needle: String, line: Int, in text: String) -> Int {
        let source = text.components(separatedBy: "\n")[line - 1]
        let range = source.range(of: needle)!
        return source.distance(from: source.startIndex, to: range.lowerBound) + 1
    }

    func testUnknownLayerSuggestsAName() throws {
        let text = """
            name: broken
            input: [1, 28, 28]
            layers:
              - Conv2D: {out_channels: 4, kernel_size: 3}
              - Conv3D: {out_channels: 8, kernel_size: 3}
              - Linear: {out_features: 10}

            """
        let path = try CLI.write(text, named: "conv3d.yaml", in: scratch)
        let result = try CLI.run(["check", path])
        try assertDiagnostic(result, path: path, line: 5, column: column(of: "Conv3D", line: 5, in: text), contains: "Conv3D")
        XCTAssertTrue(result.stderr.contains("did you mean 'Conv2D'?"), result.transcript)
        XCTAssertEqual(result.stdout, "", "no summary for an invalid spec")
    }

    func testNonIntegerArgument() throws {
        let text = """
            name: broken
            layers:
              - Conv2D: {out_channels: eight, kernel_size: 3}
              - Linear: {out_features: 10}

            """
        let path = try CLI.write(text, named: "eight.yaml", in: scratch)
        let result = try CLI.run(["check", path])
        try assertDiagnostic(result, path: path, line: 3, column: column(of: "eight", line: 3, in: text),
                             contains: "'out_channels' must be an integer")
    }

    func testKernelLargerThanInput() throws {
        let text = """
            name: tiny
            input: [1, 4, 4]
            layers:
              - Conv2D: {out_channels: 2, kernel_size: 5}
              - Linear: {out_features: 10}

            """
        let path = try CLI.write(text, named: "kernel.yaml", in: scratch)
        let result = try CLI.run(["check", path])
        try assertDiagnostic(result, path: path, line: 4, column: column(of: "kernel_size", line: 4, in: text),
                             contains: "does not fit input 1×4×4")
    }

    func testMissingLayers() throws {
        let text = """
            name: nolayers
            input: [1, 28, 28]

            """
        let path = try CLI.write(text, named: "nolayers.yaml", in: scratch)
        let result = try CLI.run(["check", path])
        try assertDiagnostic(result, path: path, line: 1, column: 1, contains: "missing required key 'layers'")
    }

    func testJSONForABrokenSpecCarriesDiagnostics() throws {
        let text = """
            name: broken
            layers:
              - Conv2D: {out_channels: eight, kernel_size: 3}
              - Linear: {out_features: 10}

            """
        let path = try CLI.write(text, named: "broken.yaml", in: scratch)
        let result = try CLI.run(["check", "--json", path])
        XCTAssertEqual(result.status, 1, result.transcript)
        let json = try CLI.jsonObject(result.stdout)
        XCTAssertEqual(json["valid"] as? Bool, false)
        let diagnostics = try XCTUnwrap(json["diagnostics"] as? [[String: Any]])
        XCTAssertEqual(diagnostics.count, 1, result.stdout)
        let diagnostic = try XCTUnwrap(diagnostics.first)
        XCTAssertEqual(diagnostic["severity"] as? String, "error")
        XCTAssertEqual(diagnostic["file"] as? String, path)
        XCTAssertEqual(diagnostic["line"] as? Int, 3)
        XCTAssertEqual(diagnostic["column"] as? Int, column(of: "eight", line: 3, in: text))
        XCTAssertTrue((diagnostic["message"] as? String)?.contains("out_channels") == true, result.stdout)
    }

    func testSeveralFilesExitWithTheWorstStatus() throws {
        let broken = try CLI.write("name: x\nlayers:\n  - Conv3D: {out_channels: 8}\n", named: "bad.yaml", in: scratch)
        let result = try CLI.run(["check", CLI.example("lenet.yaml"), broken])
        XCTAssertEqual(result.status, 1, result.transcript)
        XCTAssertTrue(result.stdout.contains("61,706"), "the valid spec is still summarised\n\(result.transcript)")
        XCTAssertTrue(result.stderr.contains("\(broken):3:"), result.transcript)

        let reversed = try CLI.run(["check", broken, CLI.example("lenet.yaml")])
        XCTAssertEqual(reversed.status, 1, "order must not matter\n\(reversed.transcript)")

        let json = try CLI.run(["check", "--json", CLI.example("lenet.yaml"), broken])
        XCTAssertEqual(json.status, 1, json.transcript)
        let array = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        XCTAssertEqual(array.map { $0["valid"] as? Bool }, [true, false])
    }

    func testNonexistentFile() throws {
        let path = scratch + "/does-not-exist.yaml"
        let result = try CLI.run(["check", path])
        XCTAssertEqual(result.status, 1, result.transcript)
        XCTAssertTrue(result.stderr.contains("cannot read file"), result.transcript)
        XCTAssertTrue(result.stderr.contains(path), result.transcript)
    }

    func testWarningsDoNotFailTheCheck() throws {
        let text = """
            name: warned
            layers:
              - Linear: {out_features: 10}
            train:
              optimizer: {name: adam, momentum: 0.9}

            """
        let path = try CLI.write(text, named: "warned.yaml", in: scratch)
        let result = try CLI.run(["check", path])
        XCTAssertEqual(result.status, 0, "warnings are allowed\n\(result.transcript)")
        let col = column(of: "momentum", line: 5, in: text)
        XCTAssertTrue(result.stderr.contains("\(path):5:\(col): warning: 'momentum' is ignored by adam"), result.transcript)
        XCTAssertTrue(result.stdout.contains("parameters  7,850 ("), result.transcript)

        let json = try CLI.run(["check", "--json", path])
        XCTAssertEqual(json.status, 0, json.transcript)
        let object = try CLI.jsonObject(json.stdout)
        XCTAssertEqual(object["valid"] as? Bool, true)
        let diagnostics = try XCTUnwrap(object["diagnostics"] as? [[String: Any]])
        XCTAssertEqual(diagnostics.map { $0["severity"] as? String }, ["warning"])
        XCTAssertEqual(diagnostics.first?["line"] as? Int, 5)
    }

    func testJSONForAnUnreadableFileHasNullPosition() throws {
        let path = scratch + "/missing.yaml"
        let result = try CLI.run(["check", "--json", path])
        XCTAssertEqual(result.status, 1, result.transcript)
        let object = try CLI.jsonObject(result.stdout)
        XCTAssertEqual(object["valid"] as? Bool, false)
        let diagnostic = try XCTUnwrap((object["diagnostics"] as? [[String: Any]])?.first)
        XCTAssertEqual(diagnostic["severity"] as? String, "error")
        XCTAssertEqual(diagnostic["file"] as? String, path)
        XCTAssertTrue(diagnostic["line"] is NSNull, "a whole-file problem has no line")
        XCTAssertTrue(diagnostic["column"] is NSNull)
        XCTAssertTrue((diagnostic["message"] as? String)?.hasPrefix("cannot read file") == true, result.stdout)
    }

    // MARK: - The parameter limit

    /// input [1, 1, n] flattens to n features: Linear n→1 then 1→10 has n + 1 + 10 + 10 = n + 21 parameters.
    func limitSpec(parameters: Int) -> String {
        let n = parameters - 21
        return """
            name: wide
            input: [1, 1, \(n)]
            layers:
              - Linear: {out_features: 1}
              - Linear: {out_features: 10}

            """
    }

    func testOneMillionParametersIsRejected() throws {
        let path = try CLI.write(limitSpec(parameters: 1_000_000), named: "million.yaml", in: scratch)
        let result = try CLI.run(["check", path])
        XCTAssertEqual(result.status, 1, result.transcript)
        XCTAssertTrue(result.stderr.contains("the model has 1,000,000 parameters; the limit is fewer than 1,000,000 (over by 1)"),
                      result.transcript)
        XCTAssertTrue(result.stderr.contains("\(path):3:1: error:"), "reported at 'layers:'\n\(result.transcript)")
    }

    func testJustUnderTheLimitIsAccepted() throws {
        let path = try CLI.write(limitSpec(parameters: 999_999), named: "under.yaml", in: scratch)
        let result = try CLI.run(["check", path])
        XCTAssertEqual(result.status, 0, result.transcript)
        XCTAssertTrue(result.stdout.contains("parameters  999,999 (1 under the limit of fewer than 1,000,000)"), result.transcript)
        let json = try CLI.jsonObject(try CLI.run(["check", "--json", path]).stdout)
        XCTAssertEqual(json["params"] as? Int, 999_999)
    }

    // MARK: - Usage errors

    func testUsageErrorsExitTwo() throws {
        let lenet = CLI.example("lenet.yaml")
        for arguments in [["check"], ["check", "--bogus", lenet], ["check", "--batch-size", "0", lenet],
                          ["check", "--batch-size", "many", lenet], ["frobnicate"]] {
            let result = try CLI.run(arguments)
            XCTAssertEqual(result.status, 2, "cnnc \(arguments.joined(separator: " "))\n\(result.transcript)")
            XCTAssertFalse(result.stderr.isEmpty, "usage errors explain themselves on stderr: \(arguments)")
            XCTAssertEqual(result.stdout, "", "usage errors print nothing on stdout: \(arguments)")
        }
    }

    func testBatchSizeChangesTheMemoryPlan() throws {
        let lenet = CLI.example("lenet.yaml")
        let small = try CLI.jsonObject(try CLI.run(["check", "--json", "--batch-size", "8", lenet]).stdout)
        let large = try CLI.jsonObject(try CLI.run(["check", "--json", "--batch-size", "128", lenet]).stdout)
        let smallMemory = try XCTUnwrap(small["memory"] as? [String: Any])
        let largeMemory = try XCTUnwrap(large["memory"] as? [String: Any])
        XCTAssertEqual(smallMemory["batch_size"] as? Int, 8)
        XCTAssertEqual(largeMemory["batch_size"] as? Int, 128)
        XCTAssertLessThan(try XCTUnwrap(smallMemory["training_arena_bytes"] as? Int),
                          try XCTUnwrap(largeMemory["training_arena_bytes"] as? Int))
    }
}
