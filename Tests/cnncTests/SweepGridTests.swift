import Foundation
import XCTest

/// `cnnc sweep` beyond one parameter: grids, `--set`, ablations, resuming, `--collect`,
/// `--plan-only` with xargs, `--slurm` files, and the bounds on outside input (issue 11, defects 2,
/// 3 and 12). Runs are tiny (320 training images, 100 validation images, one thread).
final class SweepGridTests: XCTestCase {
    var scratch = ""

    override func setUpWithError() throws {
        scratch = try CLI.temporaryDirectory(prefix: "cnnc-sweep-grid")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: scratch)
    }

    static let regularized = """
        name: tinyreg
        input: [1, 28, 28]
        layers:
          - Conv2D: {out_channels: 4, kernel_size: 4, stride: 4}
          - BatchNorm2D
          - ReLU
          - Dropout: {p: 0.25}
          - Linear: {out_features: 10, name: head, weight_decay: 0.001}
        train: {optimizer: {name: adam, lr: 0.01}}

        """

    func tiny(_ data: String) -> [String] {
        ["--limit", "320", "--val", "100", "--threads", "1", "--no-download", "--data", data]
    }

    func sweep(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> CLIResult {
        try CLI.run(["sweep"] + arguments, file: file, line: line)
    }

    func read(_ path: String) throws -> String { try String(contentsOfFile: path, encoding: .utf8) }

    /// sweep.csv without its seconds column (timings differ between any two runs).
    func csvWithoutSeconds(_ path: String) throws -> [String] {
        let lines = try read(path).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        guard let seconds = lines.first?.firstIndex(of: "seconds") else { return [] }
        return lines.map { fields in fields.enumerated().filter { $0.offset != seconds }.map(\.element).joined(separator: ",") }
    }

    func runFolders(_ directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.first?.isNumber ?? false }.sorted()
    }

    // MARK: - Grids and plots

    func testTwoDimensionalGridGivesAHeatmap() throws {
        let data = try CLI.mnistDirectory()
        let out = scratch + "/grid"
        let result = try sweep([CLI.example("lenet.yaml"), "--dropout", "0,0.5", "--lr", "1e-3..1e-2*2", "--out", out] + tiny(data))
        XCTAssertEqual(result.status, 0, result.transcript)
        XCTAssertTrue(result.stdout.contains("4 runs (2 dropout × 2 lr)"), result.transcript)
        let csv = try read(out + "/sweep.csv")
        XCTAssertTrue(csv.hasPrefix("dropout,lr,seed,"), csv)
        XCTAssertEqual(try runFolders(out), ["0-dropout0-lr0.001", "1-dropout0-lr0.01", "2-dropout0.5-lr0.001", "3-dropout0.5-lr0.01"])
        let svg = try read(out + "/sweep.svg")
        XCTAssertTrue(svg.contains("lead over the worst cell") && svg.contains(">lr<") && svg.contains(">dropout<"), "a heatmap of dropout × lr")
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/sweep.pdf"))
        let json = try CLI.jsonObject(try read(out + "/sweep.json"))
        XCTAssertEqual(json["parameters"] as? [String], ["dropout", "lr"])
        let axes = try XCTUnwrap(json["axes"] as? [[String: Any]])
        XCTAssertEqual(axes.map { $0["log_spaced"] as? Bool }, [false, true])
    }

    /// --ablate trains the spec with and without each regularizer; the table is sorted by
    /// validation accuracy and the plot is a bar chart; --dry-run shows the ablated graphs.
    func testAblationsTableBarChartAndDryRun() throws {
        let data = try CLI.mnistDirectory()
        let spec = try CLI.write(Self.regularized, named: "tinyreg.yaml", in: scratch)
        let ablate = ["--ablate", "BatchNorm2D", "--ablate", "dropout", "--ablate", "weight_decay"]
        let dry = try sweep([spec, "--dry-run"] + ablate + tiny(data))
        XCTAssertEqual(dry.status, 0, dry.transcript)
        XCTAssertTrue(dry.stdout.contains("4 runs (4 variants)"), dry.transcript)
        XCTAssertTrue(dry.stdout.contains("without BatchNorm2D:\ntinyreg"), dry.transcript)
        XCTAssertFalse(dry.stdout.components(separatedBy: "without BatchNorm2D:\n")[1].prefix(800).contains("BatchNorm2D  "),
                       "the ablated graph has no BatchNorm2D step\n\(dry.stdout)")

        let out = scratch + "/ablate"
        let result = try sweep([spec, "--out", out] + ablate + tiny(data))
        XCTAssertEqual(result.status, 0, result.transcript)
        let rows = try XCTUnwrap(try CLI.jsonObject(try read(out + "/sweep.json"))["rows"] as? [[String: Any]])
        XCTAssertEqual(Set(rows.compactMap { $0["ablation"] as? String }),
                       ["baseline", "without BatchNorm2D", "without Dropout", "without weight_decay"])
        let means = rows.compactMap { ($0["validation_accuracy"] as? [String: Any])?["mean"] as? NSNumber }.map(\.doubleValue)
        XCTAssertEqual(means.count, 4)
        XCTAssertEqual(means, means.sorted(by: >), "rows sorted by validation accuracy, best first")
        let tableOrder = result.stdout.split(separator: "\n").compactMap { line -> String? in
            for label in ["baseline", "without BatchNorm2D", "without Dropout", "without weight_decay"] where line.hasPrefix(label + "  ") { return label }
            return nil
        }
        XCTAssertEqual(tableOrder, rows.compactMap { $0["ablation"] as? String }, result.stdout)
        let svg = try read(out + "/sweep.svg")
        XCTAssertTrue(svg.contains("which regularizer matters") && svg.contains("without Dropout") && svg.contains("<rect"), "a bar chart")
        let summary = try CLI.jsonObject(try read(out + "/3-without-weight_decay/summary.json"))
        XCTAssertEqual((summary["settings"] as? [String: Any])?["weight_decay"] as? NSNumber, 0)
    }

    /// A `--set` value the compiler rejects stops the sweep before any run, with the spec's diagnostic.
    func testSetValueTheCompilerRejectsExitsOneBeforeAnyRun() throws {
        let out = scratch + "/badset"
        let result = try sweep([CLI.example("lenet.yaml"), "--set", "dropout_9.p=0.5,1", "--out", out] + tiny(scratch))
        XCTAssertEqual(result.status, 1, result.transcript)
        XCTAssertTrue(result.stderr.contains("error: 'p' must be in [0, 1), got 1"), result.transcript)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        let unknown = try sweep([CLI.example("lenet.yaml"), "--set", "nosuch.p=0.5", "--out", out] + tiny(scratch))
        XCTAssertEqual(unknown.status, 2, unknown.transcript)
        XCTAssertTrue(unknown.stderr.contains("no layer is named 'nosuch'"), unknown.transcript)
    }

    // MARK: - Resume and collect

    /// Re-running the same command trains only the runs that did not finish; --collect on a
    /// partial directory lists what is missing; other settings are refused and nothing is deleted.
    func testResumeCollectAndRefusal() throws {
        let data = try CLI.mnistDirectory()
        let out = scratch + "/resume"
        let arguments = [CLI.example("lenet.yaml"), "--dropout", "0,0.3,0.6", "--out", out] + tiny(data)
        let first = try sweep(arguments)
        XCTAssertEqual(first.status, 0, first.transcript)
        let weights0 = try Data(contentsOf: URL(fileURLWithPath: out + "/0-dropout0/weights.safetensors"))
        let firstCSV = try csvWithoutSeconds(out + "/sweep.csv")
        // Run 1 "interrupted": its folder is gone.
        try FileManager.default.removeItem(atPath: out + "/1-dropout0.3")
        let partial = try sweep(["--collect", out])
        XCTAssertEqual(partial.status, 1, partial.transcript)
        XCTAssertTrue(partial.stdout.contains("2 of 3 runs finished, 1 missing"), partial.transcript)
        XCTAssertTrue(partial.stdout.contains("missing: 1 1-dropout0.3"), partial.transcript)

        let again = try sweep(arguments)
        XCTAssertEqual(again.status, 0, again.transcript)
        XCTAssertTrue(again.stdout.contains("2 of them already finished"), again.transcript)
        XCTAssertEqual(again.stdout.components(separatedBy: ", seed 0: loss").count - 1, 1, "one run trained\n\(again.stdout)")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: out + "/0-dropout0/weights.safetensors")), weights0)
        XCTAssertEqual(try csvWithoutSeconds(out + "/sweep.csv"), firstCSV, "the re-run gives the same results")

        let changed = try sweep([CLI.example("lenet.yaml"), "--dropout", "0,0.4", "--out", out] + tiny(data))
        XCTAssertEqual(changed.status, 2, changed.transcript)
        XCTAssertTrue(changed.stderr.contains("other settings or values") && changed.stderr.contains("--force"), changed.transcript)
        XCTAssertEqual(changed.stderr.split(separator: "\n").count, 1, "one line: \(changed.stderr)")
        XCTAssertEqual(try runFolders(out).count, 3, "nothing deleted")
        let forced = try sweep([CLI.example("lenet.yaml"), "--dropout", "0,0.4", "--out", out, "--force"] + tiny(data))
        XCTAssertEqual(forced.status, 0, forced.transcript)
    }

    /// --plan-only writes one command per run; running them with xargs -P 2 and collecting gives
    /// the local sweep's results.
    func testPlanOnlyWithXargsThenCollectEqualsALocalSweep() throws {
        let data = try CLI.mnistDirectory()
        let planned = scratch + "/planned"
        let local = scratch + "/local"
        let arguments = [CLI.example("lenet.yaml"), "--dropout", "0,0.3,0.6"] + tiny(data)
        let plan = try sweep(arguments + ["--plan-only", "--out", planned])
        XCTAssertEqual(plan.status, 0, plan.transcript)
        let commands = try read(planned + "/commands.txt").split(separator: "\n")
        XCTAssertEqual(commands.count, 3)
        XCTAssertTrue(commands[1].contains("sweep --run-index 1 "), String(commands[1]))

        let xargs = Process()
        xargs.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        xargs.arguments = ["sh", "-c", "xargs -P 2 -I{} sh -c '{}' < '\(planned)/commands.txt'"]
        try xargs.run()
        xargs.waitUntilExit()
        XCTAssertEqual(xargs.terminationStatus, 0)

        let collected = try sweep(["--collect", planned])
        XCTAssertEqual(collected.status, 0, collected.transcript)
        XCTAssertTrue(collected.stdout.contains("3 of 3 runs finished"), collected.transcript)
        let run = try sweep(arguments + ["--out", local])
        XCTAssertEqual(run.status, 0, run.transcript)
        XCTAssertEqual(try runFolders(planned), try runFolders(local))
        for folder in try runFolders(local) {
            let a = try Data(contentsOf: URL(fileURLWithPath: "\(planned)/\(folder)/weights.safetensors"))
            let b = try Data(contentsOf: URL(fileURLWithPath: "\(local)/\(folder)/weights.safetensors"))
            XCTAssertEqual(a, b, "\(folder): weights differ")
        }
        XCTAssertEqual(try csvWithoutSeconds(planned + "/sweep.csv"), try csvWithoutSeconds(local + "/sweep.csv"))
        // A task run again finds its run finished and does nothing.
        let repeatRun = try sweep(["--run-index", "0", planned])
        XCTAssertEqual(repeatRun.status, 0, repeatRun.transcript)
        XCTAssertTrue(repeatRun.stdout.contains("already finished"), repeatRun.transcript)
    }

    func testSlurmFilesWithoutSubmitting() throws {
        let out = scratch + "/slurm"
        let result = try sweep([CLI.example("lenet.yaml"), "--dropout", "0:0.4:0.1", "--slurm", "--cpus-per-task", "2",
                                "--array-limit", "2", "--time", "00:05:00", "--partition", "short", "--sbatch-arg=--account=lab",
                                "--out", out] + ["--limit", "320", "--val", "100", "--no-download", "--data", scratch])
        XCTAssertEqual(result.status, 0, result.transcript)
        let script = try read(out + "/sweep.sbatch")
        for line in ["#SBATCH --array=0-4%2", "#SBATCH --cpus-per-task=2", "#SBATCH --time=00:05:00", "#SBATCH --partition=short",
                     "#SBATCH --account=lab"] {
            XCTAssertTrue(script.contains(line + "\n"), "\(line)\n\(script)")
        }
        XCTAssertTrue(script.contains("sweep --run-index \"$SLURM_ARRAY_TASK_ID\" "), script)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/logs"))
        let manifest = try CLI.jsonObject(try read(out + "/manifest.json"))
        let runs = try XCTUnwrap((manifest["identity"] as? [String: Any])?["runs"] as? [[String: Any]])
        XCTAssertEqual(runs.compactMap { ($0["settings"] as? [String: Any])?["threads"] as? Int }, [2, 2, 2, 2, 2],
                       "threads per run = --cpus-per-task")
    }

    // MARK: - Bad input

    func testUsageErrorsAreOneLineExitTwo() throws {
        let lenet = CLI.example("lenet.yaml")
        let cases: [([String], String)] = [
            ([lenet, "--dropout", "0,0.5", "--seed", "1,2", "--seeds", "3"], "--seeds K counts up from one --seed"),
            ([lenet, "--lr", "0:0.1:0"], "the step must be positive"),
            ([lenet, "--lr", "0.1:0.01:-0.01"], "the step must be positive"),
            ([lenet, "--batch-size", ""], "no values given"),
            ([lenet, "--dropout", "0,0.5", "--partition", "x"], "--partition needs --slurm"),
            ([lenet, "--dropout", "0,0.5", "--ablate", "LayerNorm"], "--ablate"),
            ([lenet, "--dropout", "0,0.5", "--ablate", "Dropout"], "cannot be combined with --dropout"),
            (["--collect", scratch], "holds no manifest.json"),
            (["--run-index", "0", scratch], "holds no manifest.json"),
            ([lenet, "--dropout", "0,0.5", "--plan-only", "--slurm"], "cannot be combined"),
        ]
        for (arguments, fragment) in cases {
            let result = try sweep(arguments + ["--no-download", "--data", scratch + "/nodata"])
            XCTAssertEqual(result.status, 2, "\(arguments)\n\(result.transcript)")
            XCTAssertTrue(result.stderr.contains(fragment), "\(arguments): \(result.stderr)")
        }
    }

    /// Issue 11, defect 3: `--seeds 1000000000` aborted after 22 s. Run counts are bounded and
    /// refused at once; over 1,000 runs need --yes.
    func testHugeSweepsAreRefusedAtOnce() throws {
        let lenet = CLI.example("lenet.yaml")
        let started = Date()
        let cases: [([String], String)] = [
            ([lenet, "--dropout", "0", "--seeds", "1000000000"], "--seeds must be in 1...100,000"),
            ([lenet, "--dropout", "0,0.5", "--seeds", "600"], "1,200 runs"),
            ([lenet, "--dropout", "0,0.5", "--seeds", "100000", "--yes"], "more than the 100,000"),
        ]
        for (arguments, fragment) in cases {
            let out = scratch + "/huge"
            let result = try sweep(arguments + ["--out", out, "--no-download", "--data", scratch + "/nodata"])
            XCTAssertEqual(result.status, 2, "\(arguments)\n\(result.transcript)")
            XCTAssertTrue(result.stderr.contains(fragment), "\(arguments): \(result.stderr)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 60, "refused without building the runs")
    }

    /// Issue 11, defect 2: `sweep … --jobs 1000000000000` overflowed computing memory. Jobs are
    /// capped at the run count and memory is computed without overflow.
    func testHugeJobCountDoesNotOverflow() throws {
        let data = try CLI.mnistDirectory()
        let out = scratch + "/jobs"
        let result = try sweep([CLI.example("lenet.yaml"), "--dropout", "0.1", "--jobs", "1000000000000", "--out", out] + tiny(data))
        XCTAssertEqual(result.status, 0, result.transcript)
        XCTAssertTrue(result.stdout.contains("1 at a time, 1 thread each"), result.transcript)
    }
}
