import ArgumentParser
import Graph
import Runtime
import Spec

/// Flags that shape a training run, shared by `train`, `sweep` and `bench`.
struct TrainingFlags: ParsableArguments {
    @Option(help: "Epochs (train: default the spec's, else 10; sweep: default 1 per run, whatever the spec says; bench: unused).")
    var epochs: Int?

    @Option(help: "Examples per training step (default: the spec's, else 32).")
    var batchSize: Int?

    @Option(help: "Learning rate (default: the spec's, else 0.001 for adam, 0.01 for sgd).")
    var lr: Double?

    @Option(help: "adam or sgd (default: the spec's, else adam).")
    var optimizer: OptimizerKind?

    @Option(help: "SGD momentum (default: the spec's, else 0).")
    var momentum: Double?

    @Option(help: "L2 weight decay for layers without their own (default: the spec's, else 0).")
    var weightDecay: Double?

    @Option(help: "Random seed for initialization, shuffling and dropout (default: the spec's, else 0).")
    var seed: UInt64?

    @Option(help: "Threads (default: all cores).")
    var threads: Int?

    func validate() throws {
        if let epochs, epochs < 1 { throw ValidationError("--epochs must be at least 1") }
        if let batchSize, batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
        if let lr, !(lr > 0 && lr.isFinite) { throw ValidationError("--lr must be a positive number") }
        if let momentum, !(momentum >= 0 && momentum < 1) { throw ValidationError("--momentum must be in [0, 1)") }
        if let weightDecay, !(weightDecay >= 0 && weightDecay.isFinite) { throw ValidationError("--weight-decay must be at least 0") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        try validatePlanFlags(batchSize: batchSize, threads: threads)
        if let threads, threads > availableCores() {
            printError("note: --threads \(threads) is more than the \(availableCores()) cores; using \(availableCores())")
        }
    }

    var overrides: TrainingOverrides {
        TrainingOverrides(epochs: epochs, batchSize: batchSize, optimizer: optimizer,
                          lr: lr, momentum: momentum, weightDecay: weightDecay, seed: seed)
    }

    /// --threads, at most the machine's cores (more only slow every step down).
    var cappedThreads: Int? { threads.map { min($0, availableCores()) } }

    var resolvedThreads: Int { cappedThreads ?? availableCores() }
}

/// Where MNIST comes from, shared by `train` and `sweep`.
struct DataFlags: ParsableArguments {
    @Option(help: "MNIST directory (default: $CNNC_DATA, else ~/.cache/cnnc/mnist).")
    var data: String?

    @Flag(help: "Fail instead of downloading MNIST when it is missing.")
    var noDownload = false

    @Option(help: "Mirror to download MNIST from (repeatable; default: $CNNC_MNIST_MIRROR, else the torchvision mirrors).")
    var mirror: [String] = []

    @Option(help: "Train on the first N training images only (quick experiments).")
    var limit: Int?

    func validate() throws {
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
        if let data, data.isEmpty { throw ValidationError("--data needs a directory (an empty one would silently mean the default)") }
    }
}

/// Where results go and how much is printed, shared by `train` and `sweep`.
struct OutputFlags: ParsableArguments {
    @Option(help: "Output directory (default: a new directory under runs/, named after the spec and the time).")
    var out: String?

    @Flag(help: "Print only the final result.")
    var quiet = false

    @Flag(help: "Print the result file (named above) to standard output at the end; progress goes to standard error.")
    var json = false
}

/// Takes a `--dropout` value in [0, 1).
func validateDropout(_ p: Double?) throws {
    if let p, !(p >= 0 && p < 1) {
        throw ValidationError("--dropout must be in [0, 1), got \(p)")
    }
}

/// `--optimizer adam|sgd` (train, bench, sweep), in any letter case; the parser lists the choices in its error.
extension OptimizerKind: ExpressibleByArgument {
    public init?(argument: String) {
        self.init(rawValue: argument.lowercased())
    }
}
