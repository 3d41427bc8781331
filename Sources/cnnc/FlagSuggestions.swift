import ArgumentParser

/// Near-miss flags: names people bring from other trainers (`--learning-rate`, `--num-epochs`,
/// `--output-dir`) and snake_case spellings get a "Did you mean" that names cnnc's flag, in the
/// words swift-argument-parser uses for close misspellings (which it already suggests itself).
enum FlagSuggestions {
    /// Other tools' flag names (without `--`) and cnnc's flag for the same thing.
    static let synonyms: [String: String] = [
        "learning-rate": "lr", "learningrate": "lr", "rate": "lr", "eta": "lr", "base-lr": "lr",
        "batch": "batch-size", "bs": "batch-size", "batchsize": "batch-size", "mini-batch-size": "batch-size",
        "epoch": "epochs", "n-epochs": "epochs", "num-epochs": "epochs", "max-epochs": "epochs", "nb-epoch": "epochs",
        "output": "out", "output-dir": "out", "out-dir": "out", "outdir": "out", "save-dir": "out", "log-dir": "out",
        "data-dir": "data", "dataset": "data", "datadir": "data", "root": "data",
        "num-threads": "threads", "nthreads": "threads", "workers": "threads", "num-workers": "threads",
        "dropout-rate": "dropout", "drop": "dropout", "dropout-p": "dropout",
        "opt": "optimizer", "optim": "optimizer",
        "wd": "weight-decay", "l2": "weight-decay", "decay": "weight-decay",
        "random-seed": "seed", "manual-seed": "seed",
        "validation": "val", "val-size": "val", "valid": "val",
        "parallel": "jobs",
    ]

    /// cnnc's flag for an unknown `--name`, if `help` (the command's help text) lists one.
    static func suggestion(for name: String, help: String) -> String? {
        let lowered = name.lowercased()
        let dashed = lowered.replacingOccurrences(of: "_", with: "-")
        for candidate in [dashed, synonyms[dashed], synonyms[dashed.replacingOccurrences(of: "-", with: "")]] {
            guard let candidate, candidate != name else { continue }
            if help.contains("--\(candidate) ") || help.contains("--\(candidate)\n") {
                return candidate
            }
        }
        return nil
    }

    /// `message` with "Did you mean" added to an "Unknown option '--name'" that has none.
    static func adding(to message: String, arguments: [String]) -> String {
        let marker = "Unknown option '--"
        guard let start = message.range(of: marker),
              let end = message[start.upperBound...].firstIndex(of: "'") else { return message }
        let rest = message[message.index(after: end)...]
        guard !rest.hasPrefix(". Did you mean") else { return message }
        let name = String(message[start.upperBound..<end])
        let command = CNNC.configuration.subcommands.first { arguments.dropFirst().first == $0._commandName }
        let help = CNNC.helpMessage(for: command ?? CNNC.self)
        guard let flag = suggestion(for: name, help: help) else { return message }
        return String(message[..<message.index(after: end)]) + ". Did you mean '--\(flag)'?" + rest
    }
}
