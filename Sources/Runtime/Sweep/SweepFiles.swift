import Foundation
import Graph
import Spec

/// A sweep directory: `manifest.json` (the spec's SHA-256, the definition, every run's full
/// settings, the cnnc version), a copy of the spec, and one folder per run whose `run.json`,
/// written last, says that the run finished or failed and with which settings.
public enum SweepFiles {
    public static let manifest = "manifest.json"
    public static let runStatus = "run.json"
    public static let commands = "commands.txt"
    public static let sbatch = "sweep.sbatch"
    public static let logs = "logs"
}

public struct SweepManifestError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

extension SweepPlan {
    /// The file name of the spec's copy in the sweep directory (the same base name, so the
    /// model's default name does not change).
    public var specCopyName: String { (source.path as NSString).lastPathComponent }

    public var specSHA256: String { sha256Hex(Array(source.text.utf8)) }

    /// What must match for a directory's runs to count as this sweep's.
    public func identityJSON() -> JSON {
        .object([
            ("spec_sha256", .string(specSHA256)),
            ("definition", definitionJSON(definition)),
            ("runs", .array(runs.map(runJSON))),
        ])
    }

    public func manifestJSON(dataDirectory: String) -> JSON {
        .object([
            ("format", .string("cnnc-sweep")),
            ("format_version", .int(1)),
            ("cnnc_version", .string(cnncVersion)),
            ("name", .string(base.graph?.name ?? "")),
            ("spec", .object([
                ("path", .string(source.path)),
                ("copy", .string(specCopyName)),
                ("sha256", .string(specSHA256)),
            ])),
            ("data", .string(dataDirectory)),
            ("run_count", .int(runs.count)),
            ("identity_sha256", .string(sha256Hex(Array(identityJSON().rendered().utf8)))),
            ("identity", identityJSON()),
        ])
    }
}

/// The manifest of `directory`, parsed, or nil when there is none.
public func readSweepManifest(_ directory: String) throws -> [String: Any]? {
    let path = directory + "/" + SweepFiles.manifest
    guard FileManager.default.fileExists(atPath: path) else { return nil }
    guard let data = FileManager.default.contents(atPath: path),
          let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
        throw SweepManifestError("\(path) is not a cnnc sweep manifest (unreadable or not JSON)")
    }
    guard object["format"] as? String == "cnnc-sweep" else {
        throw SweepManifestError("\(path) is not a cnnc sweep manifest")
    }
    return object
}

/// Checks that `directory` holds nothing or this same sweep; then writes the manifest and the
/// spec's copy. A directory of another spec or other settings is refused unless `force`.
public func prepareSweepDirectory(_ plan: SweepPlan, directory: String, dataDirectory: String, force: Bool) throws {
    if let existing = try readSweepManifest(directory), !force {
        let identity = plan.identityJSON()
        let old = (existing["identity"] as? [String: Any]) ?? [:]
        if old["spec_sha256"] as? String != plan.specSHA256 {
            throw SweepManifestError("\(directory) holds a sweep of another spec (SHA-256 \(String((old["spec_sha256"] as? String ?? "?").prefix(12)))…, this one \(plan.specSHA256.prefix(12))…); use another --out, or --force to re-run it with this spec")
        }
        if existing["identity_sha256"] as? String != sha256Hex(Array(identity.rendered().utf8)) {
            throw SweepManifestError("\(directory) holds a sweep with other settings or values; use another --out, or --force to re-run the runs that differ")
        }
    } else if FileManager.default.fileExists(atPath: directory) {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        let hasManifest = try readSweepManifest(directory) != nil
        if !entries.isEmpty && !hasManifest && !force {
            throw SweepManifestError("\(directory) is not empty and holds no sweep manifest; use another --out, or --force")
        }
    }
    try createDirectory(directory)
    try writeFileAtomically(Array(plan.source.text.utf8), to: directory + "/" + plan.specCopyName)
    let manifest = plan.manifestJSON(dataDirectory: dataDirectory)
    try writeFileAtomically(Array((manifest.rendered(pretty: true) + "\n").utf8), to: directory + "/" + SweepFiles.manifest)
}

/// Rebuilds the plan a sweep directory was made for, from its manifest and its copy of the spec.
public func loadSweepPlan(_ directory: String) throws -> (plan: SweepPlan, dataDirectory: String) {
    guard let manifest = try readSweepManifest(directory) else {
        throw SweepManifestError("\(directory) holds no \(SweepFiles.manifest); it is not a sweep directory (make one with cnnc sweep SPEC … --out \(directory))")
    }
    guard let spec = manifest["spec"] as? [String: Any], let path = spec["path"] as? String, let copy = spec["copy"] as? String,
          let sha = spec["sha256"] as? String, let identity = manifest["identity"] as? [String: Any],
          let definition = identity["definition"] as? [String: Any] else {
        throw SweepManifestError("\(directory)/\(SweepFiles.manifest) is incomplete")
    }
    guard let bytes = FileManager.default.contents(atPath: directory + "/" + copy) else {
        throw SweepManifestError("\(directory)/\(copy), the sweep's copy of its spec, is missing")
    }
    let text = String(decoding: bytes, as: UTF8.self)
    guard sha256Hex(Array(text.utf8)) == sha else {
        throw SweepManifestError("\(directory)/\(copy) does not match the SHA-256 in the manifest; it was edited after the sweep was planned")
    }
    let plan = try SweepPlan(source: SourceFile(path: path, text: text), definition: try decodeDefinition(definition))
    return (plan, manifest["data"] as? String ?? "")
}

// MARK: - Definition as JSON

func definitionJSON(_ definition: SweepDefinition) -> JSON {
    .object([
        ("axes", .array(definition.axes.map { axis in
            .object([
                ("parameter", .string(axis.parameter.name)),
                ("values", .array(axis.values.values.map { .string($0.description) })),
                ("log_spaced", .bool(axis.values.logSpaced)),
            ])
        })),
        ("ablations", .array(definition.ablations.map { .string($0.rawValue) })),
        ("seeds", .object([
            ("list", definition.seeds.list.map { .array($0.map { .string(String($0)) }) } ?? .null),
            ("first", definition.seeds.first.map { .string(String($0)) } ?? .null),
            ("count", .int(definition.seeds.count)),
        ])),
        ("optimizer", definition.optimizer.map { .string($0.rawValue) } ?? .null),
        ("threads", .int(definition.threads)),
        ("validation_images", .int(definition.validation)),
        ("limit", definition.limit.map { .int($0) } ?? .null),
        ("select_on", .string(definition.selectOn.rawValue)),
    ])
}

func decodeDefinition(_ object: [String: Any]) throws -> SweepDefinition {
    let bad = SweepManifestError("the manifest's sweep definition is malformed")
    guard let axesJSON = object["axes"] as? [[String: Any]], let threads = object["threads"] as? Int,
          let validation = object["validation_images"] as? Int, let seedsJSON = object["seeds"] as? [String: Any],
          let count = seedsJSON["count"] as? Int,
          let selectOn = (object["select_on"] as? String).flatMap(SelectionSplit.init(rawValue:)) else { throw bad }
    var axes: [SweepAxis] = []
    for axis in axesJSON {
        guard let name = axis["parameter"] as? String, let texts = axis["values"] as? [String] else { throw bad }
        let parameter: SweepParameter
        if let setting = SweepParameter.settings.first(where: { $0.name == name }) {
            parameter = setting
        } else if let dot = name.lastIndex(of: "."), let key = LayerArgumentKey(String(name[name.index(after: dot)...])) {
            parameter = .layer(LayerArgumentReference(layer: String(name[..<dot]), argument: key))
        } else {
            throw bad
        }
        let values = try texts.map { try parseDecimal($0) }
        axes.append(SweepAxis(parameter: parameter, values: SweepValueList(values: values, logSpaced: axis["log_spaced"] as? Bool ?? false)))
    }
    let ablations = try ((object["ablations"] as? [String]) ?? []).map { name in
        guard let ablation = Ablation(rawValue: name) else { throw bad }
        return ablation
    }
    let list = try (seedsJSON["list"] as? [String]).map { try $0.map { text in
        guard let seed = UInt64(text) else { throw bad }
        return seed
    } }
    let first = (seedsJSON["first"] as? String).flatMap { UInt64($0) }
    let optimizer = (object["optimizer"] as? String).flatMap(OptimizerKind.init(rawValue:))
    return SweepDefinition(axes: axes, ablations: ablations, seeds: SweepSeeds(list: list, first: first, count: count),
                           optimizer: optimizer, threads: threads, validation: validation, limit: object["limit"] as? Int,
                           selectOn: selectOn)
}

// MARK: - run.json

func runStatusJSON(_ plan: SweepPlan, _ result: SweepRunResult) -> JSON {
    let definition = plan.runJSON(result.run)
    return .object([
        ("status", .string(result.status == .finished ? "finished" : "failed")),
        ("reason", failureReason(result.status).isEmpty ? .null : .string(failureReason(result.status))),
        ("seconds", .double(result.seconds)),
        ("run_sha256", .string(plan.runSHA256(result.run))),
        ("run", definition),
        ("resumed_from", resumePointsJSON(result.resumedFrom)),
        ("epochs", .array(result.epochs.map(epochJSON))),
    ])
}

func writeRunStatus(_ plan: SweepPlan, _ result: SweepRunResult, directory: String) throws {
    try createDirectory(directory)
    try writeFileAtomically(Array((runStatusJSON(plan, result).rendered(pretty: true) + "\n").utf8),
                            to: directory + "/" + SweepFiles.runStatus)
}

/// run.json as read back. `JSONDecoder` reads numbers exactly (shortest round-trip text back to
/// the same Double), so tables rebuilt from disk equal the ones made in memory.
private struct RunStatusFile: Decodable {
    struct Epoch: Decodable {
        var epoch: Int
        var train_loss: Double
        var train_accuracy: Double
        var validation_accuracy: Double?
        var test_accuracy: Double
        var train_seconds: Double
        var evaluation_seconds: Double
        var images_per_second: Double
    }

    var status: String
    var reason: String?
    var seconds: Double
    var run_sha256: String
    var resumed_from: [Point]?
    var epochs: [Epoch]

    struct Point: Decodable {
        var epoch: Int
        var step: Int
    }
}

/// What `directory` holds for each run of `plan`: finished or failed (from run.json, when its
/// settings are this run's), else not run.
public func loadSweepResults(_ plan: SweepPlan, directory: String) -> [SweepRunResult] {
    plan.runs.map { run in
        let notRun = SweepRunResult(run: run, status: .notRun, epochs: [], seconds: 0)
        let path = directory + "/" + run.directoryName + "/" + SweepFiles.runStatus
        guard let data = FileManager.default.contents(atPath: path),
              let file = try? JSONDecoder().decode(RunStatusFile.self, from: data),
              file.run_sha256 == plan.runSHA256(run) else {
            return notRun
        }
        let reports = file.epochs.map { e in
            EpochReport(epoch: e.epoch, trainLoss: e.train_loss, trainAccuracy: e.train_accuracy,
                        validationAccuracy: e.validation_accuracy, testAccuracy: e.test_accuracy, trainSeconds: e.train_seconds,
                        evaluationSeconds: e.evaluation_seconds, imagesPerSecond: e.images_per_second)
        }
        let outcome: SweepRunStatus = file.status == "finished" ? .finished : .failed(file.reason ?? "failed")
        return SweepRunResult(run: run, status: outcome, epochs: reports, seconds: file.seconds,
                              resumedFrom: (file.resumed_from ?? []).map { ResumePoint(epoch: $0.epoch, step: $0.step) })
    }
}

// MARK: - Commands for other engines

/// Quotes `text` for a POSIX shell when it needs it.
public func shellQuoted(_ text: String) -> String {
    let safe = text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_./=:,+@%".contains($0)) }
    return safe && !text.isEmpty ? text : "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

/// commands.txt: one complete command line per run, each training into its own folder.
public func sweepCommands(_ plan: SweepPlan, executable: String, directory: String, data: String?) -> String {
    let dataFlag = data.map { " --data " + shellQuoted($0) } ?? ""
    return plan.runs.map { run in
        "\(shellQuoted(executable)) sweep --run-index \(run.index) \(shellQuoted(directory))\(dataFlag) --no-download --quiet\n"
    }.joined()
}

/// Options of a Slurm job array.
public struct SlurmOptions: Hashable, Sendable {
    public var partition: String?
    public var time: String?
    public var cpusPerTask: Int
    public var memory: String?
    public var arrayLimit: Int?
    public var extraArguments: [String]

    public init(partition: String? = nil, time: String? = nil, cpusPerTask: Int, memory: String? = nil, arrayLimit: Int? = nil,
                extraArguments: [String] = []) {
        self.partition = partition
        self.time = time
        self.cpusPerTask = cpusPerTask
        self.memory = memory
        self.arrayLimit = arrayLimit
        self.extraArguments = extraArguments
    }
}

/// sweep.sbatch: a job array, one run per task, logs per task in DIR/logs.
public func sweepSbatch(_ plan: SweepPlan, options: SlurmOptions, executable: String, directory: String, data: String?) -> String {
    let name = sanitizedName(plan.base.graph?.name ?? "sweep")
    var lines = ["#!/bin/bash", "# cnnc sweep of \(plan.source.path): \(plan.runs.count) runs, one per array task."]
    lines.append("# Submit with: sbatch \(shellQuoted(directory + "/" + SweepFiles.sbatch)); then: cnnc sweep --collect \(shellQuoted(directory))")
    lines.append("#SBATCH --job-name=cnnc-\(name)")
    lines.append("#SBATCH --array=0-\(plan.runs.count - 1)" + (options.arrayLimit.map { "%\($0)" } ?? ""))
    lines.append("#SBATCH --ntasks=1")
    lines.append("#SBATCH --cpus-per-task=\(options.cpusPerTask)")
    lines.append("#SBATCH --output=\(directory)/\(SweepFiles.logs)/%A_%a.out")
    lines.append("#SBATCH --error=\(directory)/\(SweepFiles.logs)/%A_%a.err")
    // A task that Slurm requeues (node failure, preemption), or that is submitted again after a time
    // limit, continues its run from the checkpoint in its folder; its log goes on in the same files.
    lines.append("#SBATCH --requeue")
    lines.append("#SBATCH --open-mode=append")
    if let partition = options.partition { lines.append("#SBATCH --partition=\(partition)") }
    if let time = options.time { lines.append("#SBATCH --time=\(time)") }
    if let memory = options.memory { lines.append("#SBATCH --mem=\(memory)") }
    for argument in options.extraArguments { lines.append("#SBATCH \(argument)") }
    lines.append("set -eu")
    let dataFlag = data.map { " --data " + shellQuoted($0) } ?? ""
    lines.append("exec \(shellQuoted(executable)) sweep --run-index \"$SLURM_ARRAY_TASK_ID\" \(shellQuoted(directory))\(dataFlag) --no-download --quiet")
    return lines.joined(separator: "\n") + "\n"
}
