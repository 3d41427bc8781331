import Foundation
import XCTest

/// Honest records and outputs (issue 11, part 2) and the hostile-user defects 1, 5, 7, 13, 14.
final class RecordsTests: XCTestCase {
    var scratch = ""

    override func setUpWithError() throws {
        scratch = try CLI.temporaryDirectory(prefix: "cnnc-records")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: scratch)
    }

    func dataArguments() throws -> [String] {
        ["--data", try CLI.mnistDirectory(), "--no-download"]
    }

    func json(_ path: String) throws -> [String: Any] {
        try CLI.jsonObject(try String(contentsOfFile: path, encoding: .utf8))
    }

    let noDropout = """
        name: plain
        layers:
          - Conv2D: {out_channels: 4, kernel_size: 3, stride: 2}
          - ReLU
          - Linear: {out_features: 10}

        """

    func testDropoutOnASpecWithoutDropoutIsAnError() throws {
        let spec = try CLI.write(noDropout, named: "plain.yaml", in: scratch)
        let out = scratch + "/plain"
        let result = try CLI.run(["train", spec, "--dropout", "0.3", "--out", out, "--quiet"] + dataArguments())
        XCTAssertEqual(result.status, 1, result.transcript)
        XCTAssertTrue(result.stderr.contains("--dropout") && result.stderr.contains("has none"), result.transcript)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    }

    func testSummaryAndResolvedSpecSayWhatRan() throws {
        let out = scratch + "/honest"
        let result = try CLI.run(["train", CLI.example("lenet.yaml"), "--dropout", "0.3", "--lr", "0.002", "--out", out,
                                  "--epochs", "1", "--limit", "300", "--threads", "2", "--quiet"] + dataArguments())
        XCTAssertEqual(result.status, 0, result.transcript)
        let summary = try json(out + "/summary.json")
        let layers = try XCTUnwrap(summary["dropout_layers"] as? [[String: Any]])
        XCTAssertEqual(layers.compactMap { ($0["p"] as? NSNumber)?.doubleValue }, [0.3])
        let settings = try XCTUnwrap(summary["settings"] as? [String: Any])
        for key in ["epochs", "batch_size", "optimizer", "lr", "momentum", "weight_decay", "beta1", "beta2", "eps", "dropout",
                    "seed", "threads", "validation_images", "limit", "evaluation_batch"] {
            XCTAssertNotNil(settings[key], "summary.json settings lack \(key): \(settings)")
        }
        XCTAssertEqual((settings["lr"] as? NSNumber)?.doubleValue, 0.002)
        let resolved = try String(contentsOfFile: out + "/resolved.yaml", encoding: .utf8)
        XCTAssertTrue(resolved.contains("Dropout: {p: 0.3}") && resolved.contains("lr: 0.002") && resolved.contains("epochs: 1"), resolved)
        XCTAssertEqual(try String(contentsOfFile: out + "/lenet.yaml", encoding: .utf8),
                       try String(contentsOfFile: CLI.example("lenet.yaml"), encoding: .utf8), "the original is kept verbatim")
        let check = try CLI.run(["check", out + "/resolved.yaml"])
        XCTAssertEqual(check.status, 0, check.transcript)
        XCTAssertTrue(check.stdout.contains("61,706"), check.transcript)
    }

    /// Defect 7: a spec named like an output file no longer overwrites it.
    func testASpecNamedLikeAnOutputFileIsCopiedUnderAnotherName() throws {
        let text = try String(contentsOfFile: CLI.example("lenet.yaml"), encoding: .utf8)
        let spec = try CLI.write(text, named: "weights.safetensors", in: scratch)
        let out = scratch + "/named"
        let result = try CLI.run(["train", spec, "--out", out, "--epochs", "1", "--limit", "200", "--quiet"] + dataArguments())
        XCTAssertEqual(result.status, 0, result.transcript)
        let weights = try Data(contentsOf: URL(fileURLWithPath: out + "/weights.safetensors"))
        XCTAssertFalse(String(decoding: weights.prefix(200), as: UTF8.self).contains("LeNet"), "weights.safetensors holds weights")
        XCTAssertEqual(try String(contentsOfFile: out + "/spec-weights.safetensors", encoding: .utf8), text)
    }

    /// Defect 1: a huge but finite loss is divergence: recorded, files written, exit 1, no trap.
    func testAHugeLossIsDivergenceNotACrash() throws {
        let out = scratch + "/diverged"
        let result = try CLI.run(["train", CLI.example("lenet.yaml"), "--lr", "1000", "--limit", "2000", "--epochs", "1",
                                  "--out", out] + dataArguments())
        XCTAssertEqual(result.status, 1, result.transcript)
        XCTAssertTrue(result.stdout.contains("diverged"), result.transcript)
        let summary = try json(out + "/summary.json")
        XCTAssertTrue((summary["outcome"] as? String)?.hasPrefix("diverged") ?? false, "\(summary)")
        let svg = try String(contentsOfFile: out + "/curves.svg", encoding: .utf8)
        XCTAssertFalse(svg.lowercased().contains("nan"), "curves.svg has NaN coordinates")
    }

    func testASweepGoesOnPastADivergingRun() throws {
        let out = scratch + "/sweep"
        let result = try CLI.run(["sweep", CLI.example("lenet.yaml"), "--dropout", "0,0.5", "--lr", "1e6", "--limit", "2000",
                                  "--val", "200", "--out", out] + dataArguments())
        XCTAssertEqual(result.status, 1, "no run finished\n\(result.transcript)")
        XCTAssertTrue(result.stdout.contains("dropout=0, seed 0: failed: diverged"), result.transcript)
        XCTAssertTrue(result.stdout.contains("dropout=0.5, seed 0: failed: diverged"), "the second run ran\n\(result.transcript)")
    }

    /// Defect 5: a spec's name cannot lead a run out of runs/, and control characters print escaped.
    func testANameCannotEscapeRunsAndPrintsEscaped() throws {
        let spec = try CLI.write("name: \"../../../../../../../tmp/escaped\\e]0;pwned\\a\"\n" + noDropout.split(separator: "\n").dropFirst().joined(separator: "\n") + "\n",
                                 named: "escape.yaml", in: scratch)
        let cwd = scratch + "/cwd"
        try FileManager.default.createDirectory(atPath: cwd, withIntermediateDirectories: true)
        let result = try CLI.run(["train", spec, "--epochs", "1", "--limit", "100"] + dataArguments(), currentDirectory: cwd)
        XCTAssertEqual(result.status, 0, result.transcript)
        let runs = try FileManager.default.contentsOfDirectory(atPath: cwd + "/runs")
        XCTAssertEqual(runs.count, 1, "\(runs)")
        XCTAssertTrue(runs[0].hasPrefix("_._.._.._"), runs[0])
        XCTAssertFalse(result.stdout.contains("\u{1B}") || result.stderr.contains("\u{1B}"), result.transcript)
        XCTAssertTrue(result.stdout.contains("\\u{1B}]0;pwned\\u{7}"), result.transcript)
        let check = try CLI.run(["check", spec])
        XCTAssertFalse(check.stdout.contains("\u{1B}") || check.stdout.contains("\u{07}"), check.transcript)
    }

    /// Defect 13: messages.
    func testOutBelowARegularFileSaysSo() throws {
        let file = try CLI.write("x", named: "file", in: scratch)
        let result = try CLI.run(["train", CLI.example("lenet.yaml"), "--out", file + "/run", "--quiet"] + dataArguments())
        XCTAssertEqual(result.status, 1, result.transcript)
        XCTAssertTrue(result.stderr.contains("'\(file)'") && result.stderr.contains("not a directory"), result.transcript)
        XCTAssertFalse(result.stderr.contains("NSCocoaErrorDomain"), result.transcript)
    }

    func testAnEmptyDataDirectoryIsAUsageError() throws {
        let result = try CLI.run(["train", CLI.example("lenet.yaml"), "--data", "", "--no-download", "--out", scratch + "/x"])
        XCTAssertEqual(result.status, 2, result.transcript)
        XCTAssertTrue(result.stderr.contains("--data needs a directory"), result.transcript)
    }

    /// Defect 14: check warns about inputs train cannot use, and hints at channels-last inputs.
    func testCheckWarnsAboutAnInputMNISTCannotFeed() throws {
        let spec = try CLI.write("input: [3, 32, 32]\nlayers:\n  - Linear: {out_features: 10}\n", named: "cifar.yaml", in: scratch)
        let result = try CLI.run(["check", spec])
        XCTAssertEqual(result.status, 0, result.transcript)
        XCTAssertTrue(result.stderr.contains("\(spec): warning: the input is 3×32×32, but `cnnc train` trains on MNIST's 1×28×28 images"),
                      result.transcript)
        let mnist = try CLI.run(["check", CLI.example("lenet.yaml")])
        XCTAssertFalse(mnist.stderr.contains("warning"), mnist.transcript)
    }

    func testChannelsLastInputGetsAHintAtInput() throws {
        let spec = try CLI.write("input: [28, 28, 1]\nlayers:\n  - Conv2D: {out_channels: 6, kernel_size: 5}\n  - Linear: {out_features: 10}\n",
                                 named: "hwc.yaml", in: scratch)
        let result = try CLI.run(["check", spec])
        XCTAssertTrue(result.stderr.contains("\(spec):1:") && result.stderr.contains("(C, H, W)")
                      && result.stderr.contains("write [1, 28, 28]"), result.transcript)
    }
}
