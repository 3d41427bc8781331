import Foundation
import XCTest

/// Sweep runs are checkpointed like `cnnc train` runs (issue 11, part 1, "sweeps use the same
/// mechanism"): a sweep stopped in the middle of a run (SIGKILL, SIGINT) and run again, or a
/// `--run-index` task (what Slurm array tasks run) stopped by SIGTERM and run again, continues
/// that run from its last checkpoint and ends with the files of a sweep that was never stopped:
/// weights byte-identical; metrics.jsonl, run.json, summary.json, sweep.csv and sweep.json equal
/// apart from timing fields and `resumed_from`, which says where the run continued.
final class SweepResumeTests: XCTestCase {
    var scratch = ""

    override func setUpWithError() throws {
        scratch = try CLI.temporaryDirectory(prefix: "cnnc-sweep-resume")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: scratch)
    }

    /// Two runs of two epochs, 94 steps each (3,200 images less 200 held out, at batch 32): an
    /// epoch long enough (about 0.2 s on one thread) that a signal 0.1 s after the first
    /// checkpoint lands inside epoch 2's training, not after it.
    static let settings = ["--dropout", "0,0.5", "--epochs", "2", "--limit", "3200", "--val", "200", "--batch-size", "32",
                           "--threads", "1"]
    static let runs = ["0-dropout0", "1-dropout0.5"]
    /// Fields that measure time (`timingFields` in RunFiles.swift, and run.json's `seconds`).
    static let timing: Set<String> = ["seconds", "train_seconds", "evaluation_seconds", "images_per_second", "total_seconds",
                                      "started_at"]

    /// The sweep never stopped, once for all tests (removed by `tearDown()`).
    nonisolated(unsafe) static var referenceDirectory: String?

    override class func tearDown() {
        if let directory = referenceDirectory { try? FileManager.default.removeItem(atPath: directory) }
        super.tearDown()
    }

    func dataArguments() throws -> [String] {
        ["--data", try CLI.mnistDirectory(), "--no-download"]
    }

    func sweepArguments(_ out: String) throws -> [String] {
        try ["sweep", CLI.example("lenet.yaml")] + Self.settings + dataArguments() + ["--out", out]
    }

    func reference() throws -> String {
        if let directory = Self.referenceDirectory { return directory }
        let out = try CLI.temporaryDirectory(prefix: "cnnc-sweep-reference") + "/sweep"
        let result = try CLI.run(sweepArguments(out) + ["--quiet"])
        XCTAssertEqual(result.status, 0, result.transcript)
        Self.referenceDirectory = out
        return out
    }

    // MARK: - Reading the files

    func bytes(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }

    func text(_ path: String) throws -> String { try String(contentsOfFile: path, encoding: .utf8) }

    /// A JSON value without the timing fields and `resumed_from`, rendered with sorted keys.
    func deterministic(_ value: Any) throws -> String {
        func strip(_ value: Any) -> Any {
            if let object = value as? [String: Any] {
                return object.filter { !Self.timing.contains($0.key) && $0.key != "resumed_from" }.mapValues(strip)
            }
            if let array = value as? [Any] { return array.map(strip) }
            return value
        }
        return String(decoding: try JSONSerialization.data(withJSONObject: strip(value), options: [.sortedKeys]),
                      as: UTF8.self)
    }

    func json(_ path: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(try text(path).utf8))
    }

    func jsonLines(_ path: String) throws -> [String] {
        try text(path).split(separator: "\n").map { try deterministic(try JSONSerialization.jsonObject(with: Data($0.utf8))) }
    }

    /// sweep.csv without its seconds column.
    func csvWithoutSeconds(_ path: String) throws -> [String] {
        let lines = try text(path).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let seconds = try XCTUnwrap(lines.first?.firstIndex(of: "seconds"))
        return lines.map { fields in fields.enumerated().filter { $0.offset != seconds }.map(\.element).joined(separator: ",") }
    }

    /// `resumed_from` of a JSON file, as (epoch, step) pairs.
    func resumedFrom(_ path: String) throws -> [[Int]] {
        let object = try XCTUnwrap(try json(path) as? [String: Any], path)
        let points = try XCTUnwrap(object["resumed_from"] as? [[String: Any]], "\(path) has no resumed_from")
        return points.map { [$0["epoch"] as? Int ?? -1, $0["step"] as? Int ?? -1] }
    }

    /// The run folder's files equal the reference's: weights byte for byte, the rest apart from timings.
    func assertSameRun(_ folder: String, in directory: String, as referenceDirectory: String,
                       file: StaticString = #filePath, line: UInt = #line) throws {
        let (a, b) = (directory + "/" + folder, referenceDirectory + "/" + folder)
        XCTAssertEqual(try bytes(a + "/weights.safetensors"), try bytes(b + "/weights.safetensors"),
                       "\(folder)/weights.safetensors differs from the uninterrupted sweep's", file: file, line: line)
        XCTAssertEqual(try jsonLines(a + "/metrics.jsonl"), try jsonLines(b + "/metrics.jsonl"),
                       "\(folder)/metrics.jsonl differs beyond timings", file: file, line: line)
        for name in ["run.json", "summary.json"] {
            XCTAssertEqual(try deterministic(try json(a + "/" + name)), try deterministic(try json(b + "/" + name)),
                           "\(folder)/\(name) differs beyond timings and resumed_from", file: file, line: line)
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: a).filter { $0.contains(".tmp-") }
            + FileManager.default.contentsOfDirectory(atPath: a + "/checkpoint").filter { $0.contains(".tmp-") || $0.hasPrefix(".") }
        XCTAssertEqual(left, [], "temporary files of a killed process are cleaned up", file: file, line: line)
    }

    /// The checkpoint's position: [epoch, step].
    func checkpointPosition(_ runDirectory: String) throws -> [Int] {
        let manifest = try XCTUnwrap(try json(runDirectory + "/checkpoint/manifest.json") as? [String: Any])
        return [manifest["epoch"] as? Int ?? -1, manifest["step"] as? Int ?? -1]
    }

    // MARK: - A local sweep stopped in the middle of a run

    /// Starts the sweep, sends `signal` once run 0 has its first epoch's checkpoint (so in its
    /// second epoch), runs the same command again, and compares with the uninterrupted sweep.
    func assertSweepContinuesExactly(after signal: Int32, file: StaticString = #filePath, line: UInt = #line) throws {
        let expected = try reference()
        let out = scratch + "/stopped"
        let run0 = out + "/" + Self.runs[0]
        let process = try CLI.start(sweepArguments(out))
        XCTAssertTrue(CLI.waitFor(run0 + "/checkpoint/manifest.json", while: process), "no checkpoint after epoch 1", file: file, line: line)
        usleep(100_000)
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
        if signal == SIGKILL {
            XCTAssertEqual(process.terminationReason, .uncaughtSignal, file: file, line: line)
        } else {
            XCTAssertEqual(process.terminationReason, .exit, file: file, line: line)
            XCTAssertEqual(process.terminationStatus, 128 + signal, file: file, line: line)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: run0 + "/run.json"), "stopped in the middle of run 0", file: file, line: line)
        let position = try checkpointPosition(run0)
        XCTAssertEqual(position[0], 2, "the checkpoint is in run 0's second epoch: \(position)", file: file, line: line)
        if signal == SIGKILL { XCTAssertEqual(position[1], 0, "a kill leaves the epoch's end", file: file, line: line) }

        let again = try CLI.run(sweepArguments(out))
        XCTAssertEqual(again.status, 0, again.transcript, file: file, line: line)
        XCTAssertTrue(again.stdout.contains("training the other 2 (1 from its checkpoint)"), again.transcript, file: file, line: line)
        XCTAssertTrue(again.stdout.contains("dropout=0, seed 0 (resumed at epoch \(position[0]), step \(position[1])): loss"),
                      again.transcript, file: file, line: line)
        XCTAssertTrue(again.stdout.contains("dropout=0.5, seed 0: loss"), again.transcript, file: file, line: line)
        for folder in Self.runs { try assertSameRun(folder, in: out, as: expected, file: file, line: line) }
        // The records say which run continued, and from where.
        XCTAssertEqual(try resumedFrom(run0 + "/run.json"), [position], file: file, line: line)
        XCTAssertEqual(try resumedFrom(run0 + "/summary.json"), [position], file: file, line: line)
        XCTAssertEqual(try resumedFrom(out + "/" + Self.runs[1] + "/run.json"), [], file: file, line: line)
        XCTAssertEqual(try csvWithoutSeconds(out + "/sweep.csv"), try csvWithoutSeconds(expected + "/sweep.csv"), file: file, line: line)
        XCTAssertEqual(try deterministic(try json(out + "/sweep.json")), try deterministic(try json(expected + "/sweep.json")),
                       file: file, line: line)
    }

    func testSweepKilledMidRunContinuesBitExactly() throws { try assertSweepContinuesExactly(after: SIGKILL) }

    /// Ctrl-C writes a final checkpoint after the current step; the run continues from that step.
    func testSweepInterruptedMidRunContinuesFromItsFinalCheckpoint() throws { try assertSweepContinuesExactly(after: SIGINT) }

    // MARK: - What Slurm array tasks run

    /// A `--run-index` task stopped by SIGTERM (a Slurm time limit or requeue) writes a final
    /// checkpoint and exits 143; the task run again continues and ends as the local sweep does.
    func testRunIndexTaskStoppedBySIGTERMContinuesWhenRunAgain() throws {
        let expected = try reference()
        let out = scratch + "/planned"
        let plan = try CLI.run(sweepArguments(out) + ["--plan-only"])
        XCTAssertEqual(plan.status, 0, plan.transcript)
        let run0 = out + "/" + Self.runs[0]
        let task = ["sweep", "--run-index", "0", out, "--no-download"]
        let process = try CLI.start(task)
        XCTAssertTrue(CLI.waitFor(run0 + "/checkpoint/manifest.json", while: process), "no checkpoint after epoch 1")
        usleep(100_000)
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationReason, .exit)
        XCTAssertEqual(process.terminationStatus, 143, "SIGTERM: 128 + 15")
        XCTAssertFalse(FileManager.default.fileExists(atPath: run0 + "/run.json"))
        let position = try checkpointPosition(run0)
        XCTAssertEqual(position[0], 2, "\(position)")

        let again = try CLI.run(task)
        XCTAssertEqual(again.status, 0, again.transcript)
        XCTAssertTrue(again.stdout.contains("(resumed at epoch 2, step \(position[1]))"), again.transcript)
        try assertSameRun(Self.runs[0], in: out, as: expected)
        XCTAssertEqual(try resumedFrom(run0 + "/run.json"), [position])

        // `train --resume` leaves a sweep's run to the sweep.
        let train = try CLI.run(["train", "--resume", run0] + dataArguments())
        XCTAssertEqual(train.status, 2, train.transcript)
        XCTAssertTrue(train.stderr.contains("is a run of a sweep"), train.transcript)
    }

    /// sweep.sbatch asks Slurm to requeue a task (node failure, preemption) rather than drop it,
    /// and appends to the task's log: the requeued task continues from the checkpoint.
    func testSbatchRequeuesTasksAndAppendsTheirLogs() throws {
        let out = scratch + "/slurm"
        let result = try CLI.run(["sweep", CLI.example("lenet.yaml")] + Self.settings
                                 + ["--slurm", "--no-download", "--data", scratch, "--out", out])
        XCTAssertEqual(result.status, 0, result.transcript)
        let script = try text(out + "/sweep.sbatch")
        XCTAssertTrue(script.contains("#SBATCH --requeue\n"), script)
        XCTAssertTrue(script.contains("#SBATCH --open-mode=append\n"), script)
    }

    // MARK: - A damaged checkpoint

    /// A run whose checkpoint is corrupt fails with the reason and how to start it over; the
    /// sweep's other runs are unaffected, and once the folder is removed the run trains again.
    func testACorruptCheckpointFailsItsRunClearly() throws {
        let out = scratch + "/corrupt"
        let plan = try CLI.run(["sweep", CLI.example("lenet.yaml"), "--dropout", "0,0.5", "--limit", "320", "--val", "100",
                                "--threads", "1", "--plan-only", "--out", out] + dataArguments())
        XCTAssertEqual(plan.status, 0, plan.transcript)
        let task = ["sweep", "--run-index", "0", out, "--no-download"]
        let first = try CLI.run(task)
        XCTAssertEqual(first.status, 0, first.transcript)
        let run0 = out + "/" + Self.runs[0]
        let weights = try bytes(run0 + "/weights.safetensors")
        // As if killed after its last checkpoint but before run.json, with a damaged state file.
        try FileManager.default.removeItem(atPath: run0 + "/run.json")
        let manifest = try XCTUnwrap(try json(run0 + "/checkpoint/manifest.json") as? [String: Any])
        let name = try XCTUnwrap(((manifest["files"] as? [Any])?.first as? [String: Any])?["name"] as? String)
        var state = try bytes(run0 + "/checkpoint/" + name)
        state[state.count / 2] ^= 1
        try Data(state).write(to: URL(fileURLWithPath: run0 + "/checkpoint/" + name))

        let damaged = try CLI.run(task)
        XCTAssertEqual(damaged.status, 1, damaged.transcript)
        XCTAssertTrue(damaged.stdout.contains("failed: cannot continue from") && damaged.stdout.contains("the checkpoint is corrupt")
                      && damaged.stdout.contains("remove that folder"), damaged.transcript)
        let collected = try CLI.run(["sweep", "--collect", out])
        XCTAssertTrue(collected.stdout.contains("failed:  0 0-dropout0: cannot continue from"), collected.transcript)

        try FileManager.default.removeItem(atPath: run0 + "/checkpoint")
        let fresh = try CLI.run(task)
        XCTAssertEqual(fresh.status, 0, fresh.transcript)
        XCTAssertFalse(fresh.stdout.contains("resumed"), fresh.transcript)
        XCTAssertEqual(try bytes(run0 + "/weights.safetensors"), weights, "trained again from the start, to the same weights")
    }
}
