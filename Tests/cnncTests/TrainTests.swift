import Foundation
import Graph
import Runtime
import Spec
import XCTest

/// End-to-end tests of `cnnc train` on MNIST. Every run is small (`--limit`) so the whole file
/// stays well under a minute; tests that need MNIST fail when it is absent.
final class TrainTests: XCTestCase {
    var scratch = ""

    override func setUpWithError() throws {
        scratch = try CLI.temporaryDirectory(prefix: "cnnc-train")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: scratch)
    }

    /// `cnnc train FILE --data MNIST --no-download --out OUT ARGS…`.
    func train(_ file: String, out: String, _ arguments: [String], file sourceFile: StaticString = #filePath,
               line: UInt = #line) throws -> CLIResult {
        let data = try CLI.mnistDirectory()
        return try CLI.run(["train", file, "--data", data, "--no-download", "--out", out] + arguments,
                           file: sourceFile, line: line)
    }

    /// The lines of a JSONL file of `kind` (metrics.jsonl has "epoch" and "step" lines).
    func readJSONL(_ path: String, kind: String = "epoch") throws -> [[String: Any]] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return try text.split(separator: "\n").map { try CLI.jsonObject(String($0)) }.filter { $0["kind"] as? String == kind }
    }

    func bytes(_ path: String) throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// A tiny spec with batch norm (fast to train).
    let batchNormSpec = """
        name: tinybn
        input: [1, 28, 28]
        layers:
          - Conv2D: {out_channels: 4, kernel_size: 3, stride: 2}
          - BatchNorm2D
          - ReLU
          - Linear: {out_features: 10}
        train:
          batch_size: 32
          epochs: 1

        """

    // MARK: - A real run

    func testLeNetOneEpochWritesEveryRunFile() throws {
        let out = scratch + "/run"
        let result = try train(CLI.example("lenet.yaml"), out: out,
                               ["--epochs", "1", "--limit", "10000", "--threads", "2", "--quiet"])
        XCTAssertEqual(result.status, 0, result.transcript)
        XCTAssertTrue(result.stdout.contains("final test accuracy"), result.transcript)
        XCTAssertTrue(result.stdout.contains(out), "the final line names the output directory\n\(result.transcript)")
        XCTAssertEqual(result.stdout.split(separator: "\n").count, 1, "--quiet prints only the final line\n\(result.stdout)")

        for name in ["weights.safetensors", "metrics.jsonl", "summary.json", "curves.svg", "lenet.yaml"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/" + name), "missing \(name) in \(out)")
        }
        XCTAssertEqual(try bytes(out + "/lenet.yaml"), try bytes(CLI.example("lenet.yaml")), "the spec is copied verbatim")
        let svg = try String(contentsOfFile: out + "/curves.svg", encoding: .utf8)
        XCTAssertTrue(svg.contains("<svg") && svg.contains("</svg>"), "curves.svg is an SVG document")

        let metrics = try readJSONL(out + "/metrics.jsonl")
        XCTAssertEqual(metrics.count, 1, "one epoch line per epoch")
        let steps = try readJSONL(out + "/metrics.jsonl", kind: "step")
        XCTAssertEqual(steps.compactMap { $0["step"] as? Int }, [50, 100, 150, 200, 250, 300, 313],
                       "a step line every 50 of the 313 steps and at the last")
        XCTAssertEqual(metrics.first?["epoch"] as? Int, 1)
        XCTAssertTrue(metrics.first?["validation_accuracy"] is NSNull, "no validation without --val")

        let summary = try CLI.jsonObject(try String(contentsOfFile: out + "/summary.json", encoding: .utf8))
        XCTAssertEqual(summary["name"] as? String, "lenet")
        XCTAssertEqual(summary["params"] as? Int, 61_706)
        XCTAssertEqual(summary["finished"] as? Bool, true)
        XCTAssertEqual(summary["epochs_completed"] as? Int, 1)
        let settings = try XCTUnwrap(summary["settings"] as? [String: Any])
        XCTAssertEqual(settings["epochs"] as? Int, 1)
        XCTAssertEqual(settings["limit"] as? Int, 10_000)
        XCTAssertEqual(settings["threads"] as? Int, 2)
        let accuracy = try XCTUnwrap((summary["final_test_accuracy"] as? NSNumber)?.doubleValue)
        // One epoch on 10,000 images (313 Adam steps) lands between 0.93 and 0.955 depending on the
        // seed (0.9307 for the default seed 0; seeds 0–7 measured), so 0.95 would be a coin toss;
        // 0.92 still proves the network learned (chance is 0.10).
        XCTAssertGreaterThanOrEqual(accuracy, 0.92, "LeNet after one epoch on 10,000 images")
        XCTAssertEqual((metrics.first?["test_accuracy"] as? NSNumber)?.doubleValue, accuracy)

        let (tensors, metadata) = try decodeSafetensors(try bytes(out + "/weights.safetensors"))
        XCTAssertEqual(tensors.map(\.name), ["0.weight", "0.bias", "3.weight", "3.bias", "7.weight", "7.bias",
                                             "10.weight", "10.bias", "12.weight", "12.bias"])
        XCTAssertEqual(tensors.map(\.shape), [[6, 1, 5, 5], [6], [16, 6, 5, 5], [16], [120, 400], [120],
                                              [84, 120], [84], [10, 84], [10]])
        XCTAssertEqual(Set(tensors.map(\.payload.dtype)), ["F32"])
        XCTAssertEqual(tensors.map(\.payload.count).reduce(0, +), 61_706)
        for tensor in tensors {
            guard case let .float32(values) = tensor.payload else { continue }
            XCTAssertTrue(values.allSatisfy(\.isFinite), "\(tensor.name) has non-finite values")
        }
        let meta = Dictionary(metadata, uniquingKeysWith: { a, _ in a })
        XCTAssertEqual(meta["format"], "pt")
        XCTAssertEqual(meta["name"], "lenet")
        XCTAssertEqual(meta["spec_sha256"], summary["spec_sha256"] as? String)
    }

    func testBatchNormCounterIsAnInt64Scalar() throws {
        let spec = try CLI.write(batchNormSpec, named: "tinybn.yaml", in: scratch)
        let out = scratch + "/bn"
        let result = try train(spec, out: out, ["--limit", "640", "--threads", "1", "--quiet"])
        XCTAssertEqual(result.status, 0, result.transcript)
        let (tensors, _) = try decodeSafetensors(try bytes(out + "/weights.safetensors"))
        XCTAssertEqual(tensors.map(\.name), ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean",
                                             "1.running_var", "1.num_batches_tracked", "4.weight", "4.bias"])
        let counter = try XCTUnwrap(tensors.first { $0.name == "1.num_batches_tracked" })
        XCTAssertEqual(counter.shape, [])
        XCTAssertEqual(counter.payload.dtype, "I64")
        XCTAssertEqual(counter.payload, .int64([20]), "640 images at batch 32 are 20 steps")
        let variance = try XCTUnwrap(tensors.first { $0.name == "1.running_var" })
        XCTAssertEqual(variance.shape, [4])
        XCTAssertEqual(variance.payload.dtype, "F32")
    }

    func testJSONPrintsTheSummaryOnStandardOutput() throws {
        let spec = try CLI.write(batchNormSpec, named: "tinybn.yaml", in: scratch)
        let out = scratch + "/json"
        let result = try train(spec, out: out, ["--limit", "320", "--threads", "1", "--json"])
        XCTAssertEqual(result.status, 0, result.transcript)
        let printed = try CLI.jsonObject(result.stdout)
        let written = try CLI.jsonObject(try String(contentsOfFile: out + "/summary.json", encoding: .utf8))
        XCTAssertEqual(printed as NSDictionary, written as NSDictionary, "stdout carries summary.json exactly")
        XCTAssertEqual(printed["name"] as? String, "tinybn")
        XCTAssertTrue(result.stderr.contains("final test accuracy"), "progress lines move to stderr\n\(result.transcript)")
    }

    /// Ctrl-C stops after the current step and still writes the weights and a summary that says so.
    func testInterruptWritesWhatWasTrained() throws {
        let out = scratch + "/interrupted"
        let data = try CLI.mnistDirectory()
        let result = try CLI.run(["train", CLI.example("lenet.yaml"), "--data", data, "--no-download", "--out", out,
                                  "--epochs", "50", "--threads", "1"], interruptAfter: 4)
        XCTAssertEqual(result.status, 130, "Ctrl-C exits 130, like sweep (issue 11, defect 13)\n\(result.transcript)")
        XCTAssertTrue(result.stdout.contains("interrupted at epoch"), result.transcript)
        let summary = try CLI.jsonObject(try String(contentsOfFile: out + "/summary.json", encoding: .utf8))
        XCTAssertEqual(summary["finished"] as? Bool, false)
        XCTAssertTrue((summary["outcome"] as? String)?.hasPrefix("interrupted at epoch") ?? false, "\(summary)")
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/weights.safetensors"))
    }

    /// The arena `train` allocates is the one `check` planned, for the same batch size and threads.
    func testTrainingAllocatesTheArenaCheckPrints() throws {
        let spec = try CLI.write(batchNormSpec, named: "arena.yaml", in: scratch)
        for threads in ["1", "2"] {
            let out = scratch + "/arena" + threads
            let result = try train(spec, out: out, ["--limit", "64", "--threads", threads, "--quiet"])
            XCTAssertEqual(result.status, 0, result.transcript)
            let summary = try CLI.jsonObject(try String(contentsOfFile: out + "/summary.json", encoding: .utf8))
            let trained = try XCTUnwrap(summary["memory"] as? [String: Any])
            let check = try CLI.run(["check", spec, "--json", "--threads", threads])
            let planned = try XCTUnwrap(try CLI.jsonObject(check.stdout)["memory"] as? [String: Any])
            for key in ["training_arena_bytes", "evaluation_arena_bytes", "parameter_bytes", "optimizer_state_bytes"] {
                XCTAssertEqual(trained[key] as? Int, planned[key] as? Int, "\(key) with \(threads) threads")
            }
            XCTAssertGreaterThan(trained["training_arena_bytes"] as? Int ?? 0, 0)
        }
    }

    // MARK: - Determinism

    func testSameSeedIsByteIdenticalAndAnotherSeedIsNot() throws {
        let lenet = CLI.example("lenet.yaml")
        let common = ["--epochs", "1", "--limit", "1000", "--threads", "1", "--quiet"]
        var weights: [[UInt8]] = []
        for (run, seed) in [("a", "3"), ("b", "3"), ("c", "4")] {
            let out = scratch + "/seed-" + run
            let result = try train(lenet, out: out, common + ["--seed", seed])
            XCTAssertEqual(result.status, 0, result.transcript)
            weights.append(try bytes(out + "/weights.safetensors"))
        }
        XCTAssertEqual(weights[0], weights[1], "two runs with the same seed and one thread must match byte for byte")
        XCTAssertNotEqual(weights[0], weights[2], "a different seed must give different weights")
    }

    // MARK: - Validation split

    func testValidationAddsValidationAccuracy() throws {
        let out = scratch + "/val"
        let result = try train(CLI.example("lenet.yaml"), out: out,
                               ["--epochs", "1", "--limit", "1000", "--val", "5000", "--threads", "2", "--quiet"])
        XCTAssertEqual(result.status, 0, result.transcript)
        let metrics = try readJSONL(out + "/metrics.jsonl")
        XCTAssertEqual(metrics.count, 1)
        let validation = try XCTUnwrap((metrics.first?["validation_accuracy"] as? NSNumber)?.doubleValue,
                                       "validation_accuracy must be a number with --val")
        XCTAssertTrue((0...1).contains(validation))
        let summary = try CLI.jsonObject(try String(contentsOfFile: out + "/summary.json", encoding: .utf8))
        XCTAssertEqual((summary["final_validation_accuracy"] as? NSNumber)?.doubleValue, validation)
        XCTAssertEqual((summary["settings"] as? [String: Any])?["validation_images"] as? Int, 5000)
    }

    // MARK: - Failures

    func testUsageErrorsExitTwo() throws {
        let lenet = CLI.example("lenet.yaml")
        let out = scratch + "/usage"
        for extra in [["--dropout", "1.5"], ["--dropout", "-0.1"], ["--val", "60000"], ["--limit", "0"],
                      ["--epochs", "0"], ["--momentum", "1"], ["--bogus"]] {
            let result = try CLI.run(["train", lenet, "--data", scratch, "--no-download", "--out", out] + extra)
            XCTAssertEqual(result.status, 2, "\(extra)\n\(result.transcript)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out), "usage errors create no output directory")
    }

    func testMissingDataExitsOneNamingTheDirectory() throws {
        let missing = scratch + "/nonexistent"
        let out = scratch + "/nodata"
        let result = try CLI.run(["train", CLI.example("lenet.yaml"), "--data", missing, "--no-download",
                                  "--out", out, "--quiet"])
        XCTAssertEqual(result.status, 1, result.transcript)
        XCTAssertTrue(result.stderr.contains(missing), "the message names the directory\n\(result.transcript)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: missing), "--no-download must not create the data directory")
        XCTAssertFalse(FileManager.default.fileExists(atPath: out), "no output directory without data")
    }

    /// The missing-data message suggests commands; each one it names must exist.
    func testMissingDataHintNamesOnlyRealCommands() throws {
        let result = try CLI.run(["train", CLI.example("lenet.yaml"), "--data", scratch + "/nonexistent",
                                  "--no-download", "--out", scratch + "/x", "--quiet"])
        XCTAssertEqual(result.status, 1, result.transcript)
        let help = try CLI.run(["--help"])
        XCTAssertEqual(help.status, 0, help.transcript)
        // The first word of each indented line after "SUBCOMMANDS:".
        let section = help.stdout.components(separatedBy: "SUBCOMMANDS:").dropFirst().joined()
        let subcommands = Set(section.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("  "), !line.hasPrefix("   "), line.dropFirst(2).first?.isLowercase == true else { return nil }
            return line.split(separator: " ").first.map(String.init)
        })
        XCTAssertTrue(subcommands.isSuperset(of: ["check", "train", "bench"]), "parsed \(subcommands) from\n\(help.stdout)")
        let suggested = result.stderr.components(separatedBy: "`cnnc ").dropFirst().compactMap { rest in
            rest.split(whereSeparator: { $0 == " " || $0 == "`" }).first.map(String.init)
        }
        for command in suggested {
            XCTAssertTrue(subcommands.contains(command),
                          "the error suggests `cnnc \(command)`, which is not a subcommand (\(subcommands.sorted())):\n\(result.stderr)")
        }
    }

    func testInvalidSpecExitsOneAndCreatesNothing() throws {
        let spec = try CLI.write("name: x\nlayers:\n  - Conv2D: {out_channels: eight, kernel_size: 3}\n  - Linear: {out_features: 10}\n",
                                 named: "bad.yaml", in: scratch)
        let out = scratch + "/invalid"
        let result = try CLI.run(["train", spec, "--data", scratch, "--no-download", "--out", out, "--quiet"])
        XCTAssertEqual(result.status, 1, result.transcript)
        XCTAssertTrue(result.stderr.contains("\(spec):3:"), result.transcript)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out), "an invalid spec creates no output directory")
    }

    func testNonMNISTInputIsRefused() throws {
        let spec = try CLI.write("name: small\ninput: [1, 8, 8]\nlayers:\n  - Linear: {out_features: 10}\n",
                                 named: "small.yaml", in: scratch)
        let out = scratch + "/small"
        let result = try CLI.run(["train", spec, "--data", scratch, "--no-download", "--out", out, "--quiet"])
        XCTAssertEqual(result.status, 1, result.transcript)
        XCTAssertTrue(result.stderr.contains("training uses MNIST"), result.transcript)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    }
}
