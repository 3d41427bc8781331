import ArgumentParser
import Graph
import Runtime
import Spec

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time training steps on synthetic data: per-layer forward/backward milliseconds and GFLOP/s.")

    @Argument(help: "Spec file (YAML).")
    var file: String

    @Option(help: "Timed training steps.")
    var steps = 50

    @OptionGroup var training: TrainingFlags

    @Flag(help: "Print the figures as JSON.")
    var json = false

    @Flag(help: "Also time each stride-1 conv's Winograd and direct kernels (where they apply) against im2col + GEMM, on one thread over one lane's share of the batch, and say which passes the runtime runs with each.")
    var kernels = false

    func validate() throws {
        if steps < 1 { throw ValidationError("--steps must be at least 1") }
    }

    func run() throws {
        let compilation = Compilation.compile(path: file)
        printError(compilation.renderedDiagnostics, terminator: "")
        guard let graph = compilation.graph, let spec = compilation.spec else { throw ExitCode.failure }
        let settings = TrainingSettings.resolve(spec: spec.train, overrides: training.overrides,
                                                threads: training.resolvedThreads, validation: 0, limit: nil)
        var planned = settings
        planned.evaluationBatch = benchmarkEvaluationBatch
        _ = try plansThatFit(graph: graph, settings: planned, file: file,
                             extraBytes: benchmarkDataBytes(graph: graph, batchSize: settings.batchSize))
        let result = runBenchmark(graph: graph, batchSize: settings.batchSize, steps: steps, threads: settings.threads,
                                  optimizer: settings.optimizer, seed: settings.seed)
        let peak = measureFMAPeak(threads: result.threads)
        if json {
            print(benchJSON(graph: graph, result: result, peak: peak).rendered(pretty: true))
            return
        }
        print("\(graph.name): \(steps) training steps at batch \(result.batchSize), \(result.threads) threads, \(settings.optimizer.kind.rawValue)\n")
        var table = TextTable(headers: ["#", "layer", "output", "fwd ms", "bwd ms", "fwd GFLOP/s", "bwd GFLOP/s",
                                        "fwd % peak", "bwd % peak"],
                              rightAligned: [0, 3, 4, 5, 6, 7, 8])
        for (k, step) in graph.steps.enumerated() {
            let flops = 2 * Double(step.op.macs) * Double(result.batchSize)
            let forward = result.forwardMilliseconds[k]
            let backward = result.backwardMilliseconds[k]
            let forwardRate = flops > 0 && forward > 0 ? flops / forward / 1e6 : nil
            let backwardRate = flops > 0 && backward > 0 ? 2 * flops / backward / 1e6 : nil
            table.rows.append([String(step.index), step.op.kindName, step.output.description,
                               formatFixed(forward, digits: 3), formatFixed(backward, digits: 3),
                               forwardRate.map { formatFixed($0, digits: 1) } ?? "",
                               backwardRate.map { formatFixed($0, digits: 1) } ?? "",
                               forwardRate.map { formatFixed(100 * $0 / peak.total, digits: 1) } ?? "",
                               backwardRate.map { formatFixed(100 * $0 / peak.total, digits: 1) } ?? ""])
        }
        let forwardTotal = result.forwardMilliseconds.reduce(0, +)
        let backwardTotal = result.backwardMilliseconds.reduce(0, +)
        table.rows.append(["", "total", "", formatFixed(forwardTotal, digits: 3), formatFixed(backwardTotal, digits: 3),
                           "", "", "", ""])
        print(table.rendered(indent: "  "))
        let stepFlops = 6 * Double(graph.macsPerExample) * Double(result.batchSize)
        print("  optimizer update  \(formatFixed(result.updateMilliseconds, digits: 3)) ms")
        print("  training step     \(formatFixed(result.stepMilliseconds, digits: 3)) ms (\(formatFixed(stepFlops / result.stepMilliseconds / 1e6, digits: 1)) GFLOP/s counting 3× forward MACs)")
        print("  throughput        \(formatFixed(result.imagesPerSecond, digits: 0)) images/s")
        print("  projected epoch   \(formatFixed(result.projectedEpochSeconds, digits: 1)) s per 60,000 images (training steps only)")
        print("  FMA peak          \(formatFixed(peak.perCore, digits: 1)) GFLOP/s per core, \(formatFixed(peak.total, digits: 1)) GFLOP/s on \(peak.threads) threads (8-lane FMA loop, 10 accumulators)")
        print("  FLOP floor        \(formatFixed(peak.epochFloorSeconds(macsPerExample: graph.macsPerExample), digits: 1)) s per 60,000-image epoch (3 × forward MACs × 2 FLOP at that peak)")
        print("  (a fused group's time is shown under its first layer; \(graph.name)'s fused groups: \(fusedGroups(graph: graph, threads: result.threads)))")
        guard kernels else { return }
        let share = (result.batchSize + result.threads - 1) / result.threads
        print("\nkernels on one thread, \(share) images (one lane's share), thread CPU time, best of 5:")
        let plan = BufferPlan(runtimeFor: graph, mode: .training, batchSize: 2, lanes: result.threads)
        let pooledBackward = Set(plan.fusions.filter { $0.pattern == .convReLUMaxPool }.map { graph.steps[$0.first].index })
        for step in graph.steps {
            guard case let .conv2d(g) = step.op else { continue }
            for timing in convolutionKernelBenchmarks(geometry: g, batch: share, repetitions: 5) {
                print("layer \(step.index): " + timing.description)
            }
            if pooledBackward.contains(step.index) {
                print("  (in training layer \(step.index) runs fused with its ReLU and MaxPool2D: its gradients come from the pool's gradient, not from the backward kernels above)")
            }
        }
    }
}

/// The fused groups the training plan runs, as `1–2 BatchNorm2D+ReLU`, or "none".
private func fusedGroups(graph: Graph, threads: Int) -> String {
    let plan = BufferPlan(runtimeFor: graph, mode: .training, batchSize: 2, lanes: threads)
    let groups = plan.fusions.map { "\(graph.steps[$0.first].index)–\(graph.steps[$0.steps.upperBound - 1].index) \($0.pattern.rawValue)" }
    return groups.isEmpty ? "none" : groups.joined(separator: ", ")
}

func benchJSON(graph: Graph, result: BenchmarkResult, peak: FMAPeak) -> JSON {
    .object([
        ("name", .string(graph.name)),
        ("batch_size", .int(result.batchSize)),
        ("threads", .int(result.threads)),
        ("steps", .int(result.steps)),
        ("layers", .array(graph.steps.enumerated().map { k, step in
            .object([
                ("index", .int(step.index)),
                ("kind", .string(step.op.kindName)),
                ("forward_ms", .double(result.forwardMilliseconds[k])),
                ("backward_ms", .double(result.backwardMilliseconds[k])),
                ("macs", .int(step.op.macs)),
            ])
        })),
        ("update_ms", .double(result.updateMilliseconds)),
        ("step_ms", .double(result.stepMilliseconds)),
        ("images_per_second", .double(result.imagesPerSecond)),
        ("projected_epoch_seconds", .double(result.projectedEpochSeconds)),
        ("fma_peak_gflops_per_core", .double(peak.perCore)),
        ("fma_peak_gflops", .double(peak.total)),
        ("flop_floor_epoch_seconds", .double(peak.epochFloorSeconds(macsPerExample: graph.macsPerExample))),
    ])
}
