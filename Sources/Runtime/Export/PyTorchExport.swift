import Foundation
import Graph
import Spec

/// The PyTorch module constructor of one graph step, as it appears in the exported
/// `nn.Sequential` (each family's `RuntimeOp.pytorchModule`); its position in the Sequential is the
/// step's index, which is also the prefix of its state_dict names (the implicit flatten is a step,
/// so `nn.Flatten()` takes its index and later names match weights.safetensors).
func pytorchModule(_ op: Op) -> String { op.runtime.pytorchModule }

/// `nn.Conv2d(1, 6, kernel_size=5)`: the kind's PyTorch class with the positional arguments, then
/// each table key with its PyTorch keyword; class and keyword names come from the layer table
/// (`LayerSchema.pytorchClass`, `ArgumentSchema.pytorchName`).
func pytorchConstructor(_ kind: LayerName, _ positional: [String], keywords: [(key: String, value: String)]) -> String {
    let schema = kind.schema
    let named = keywords.map { key, value -> String in
        guard let name = schema.argument(named: key)?.pytorchName else { preconditionFailure("\(kind) has no PyTorch keyword for \(key)") }
        return "\(name)=\(value)"
    }
    return "\(schema.pytorchClass)(\((positional + named).joined(separator: ", ")))"
}

/// A height/width pair as PyTorch takes it: `5` or `(3, 5)`.
func pythonPair(_ p: Pair) -> String { p.h == p.w ? "\(p.h)" : "(\(p.h), \(p.w))" }

/// Shortest round-tripping Python literal of a float ("0.25", "1e-05").
func pythonFloat(_ value: Double) -> String {
    var text = "\(value)"
    if text.hasSuffix(".0") { text.removeLast(2); text += ".0" }
    return text
}

/// `cnnc export --pytorch`: a self-contained Python file that builds, trains and evaluates the
/// spec's model in PyTorch and, for a run, loads the run's weights with strict checking.
/// `outputPath` is where the file will be written (the weights path is made relative to it).
public func pytorchSource(_ saved: SavedRun, outputPath: String) -> String {
    let graph = saved.graph
    let source = saved.compilation.source
    let specLines = source.text.split(separator: "\n", omittingEmptySubsequences: false)
    let settings = saved.settings
    let specName = (source.path as NSString).lastPathComponent
    var weightsLiteral = "None"
    if let weightsPath = saved.weightsPath {
        weightsLiteral = pythonString(relativePath(weightsPath, from: (outputPath as NSString).deletingLastPathComponent))
    }

    var moduleLines: [String] = []
    for step in graph.steps {
        let shape = step.output.dims.map(String.init).joined(separator: "×")
        if step.isImplicit {
            moduleLines.append("        # (implicit in the spec) flatten before the Linear below -> \(shape)")
        } else {
            let line = step.location.line
            let text = line >= 1 && line <= specLines.count ? specLines[line - 1].trimmingCharacters(in: .whitespaces) : ""
            moduleLines.append("        # \(specName):\(line)  \(text)  -> \(shape)")
        }
        moduleLines.append("        \(pytorchModule(step.op)),  # [\(step.index)]")
    }
    let modules = moduleLines.joined(separator: "\n")
    var decays: [String] = []
    for step in graph.steps where step.op.hasParameters {
        decays.append("\(step.index): \(pythonFloat(step.weightDecay ?? settings.optimizer.weightDecay))")
    }
    let optimizer: String
    switch settings.optimizer.kind {
    case .adam:
        optimizer = "torch.optim.Adam(groups, lr=\(pythonFloat(settings.optimizer.lr)), betas=(\(pythonFloat(settings.optimizer.beta1)), "
            + "\(pythonFloat(settings.optimizer.beta2))), eps=\(pythonFloat(settings.optimizer.eps)))"
    case .sgd:
        optimizer = "torch.optim.SGD(groups, lr=\(pythonFloat(settings.optimizer.lr)), momentum=\(pythonFloat(settings.optimizer.momentum)))"
    }
    let softmaxLast = graph.outputsProbabilities
    let lossLines = softmaxLast
        ? ["# The model ends in Softmax: cnnc trains the cross-entropy of its log, computed stably",
           "# from the Softmax's input (the logits), exactly as here.",
           "loss = F.cross_entropy(model[:-1](images), labels)"]
        : ["loss = F.cross_entropy(model(images), labels)"]
    let loss = lossLines.joined(separator: "\n            ")
    let recorded = saved.finalTestAccuracy.map { pythonFloat($0) } ?? "None"
    let origin = saved.directory.map { "run \($0) (\(specName))" } ?? specName
    let limitNote = settings.limit.map { "first \($0) training images (--limit)" } ?? "all training images"
    let validationNote = settings.validation > 0
        ? "\n# cnnc held out \(settings.validation) training images for validation (--val) with its own seeded draw; this\n"
            + "# script does not hold them out. Shuffling, initialization and dropout masks come from PyTorch's generator.\n"
        : "\n# Shuffling, initialization and dropout masks come from PyTorch's generator, not cnnc's.\n"

    return """
    #!/usr/bin/env python3
    \"\"\"\(graph.name): the model of \(origin), exported by cnnc \(cnncVersion).

    Spec SHA-256: \(sha256Hex(Array(source.text.utf8)))

    usage: python3 \((outputPath as NSString).lastPathComponent) [--data DIR] [--evaluate-only] [--weights FILE] [--epochs N]

      --evaluate-only  load the run's weights (strict=True) and print the test accuracy
      (default)        train as cnnc did: \(settings.epochs) epoch(s) at batch \(settings.batchSize), \(settings.optimizer.kind.rawValue) lr \(pythonFloat(settings.optimizer.lr)), seed \(settings.seed), \(limitNote)

    Needs torch and numpy; loading weights also needs safetensors.
    \"\"\"
    import argparse
    import gzip
    import os
    import struct

    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    PARAMETERS = \(graph.parameterCount)
    MEAN, STD = \(MNIST.mean), \(MNIST.std)  # MNIST normalization, as cnnc: (pixel / 255 - MEAN) / STD
    EPOCHS, BATCH_SIZE, SEED = \(settings.epochs), \(settings.batchSize), \(settings.seed)
    LIMIT = \(settings.limit.map(String.init) ?? "None")  # train on the first LIMIT training images (None: all)
    # The run's weights, relative to this file; None when exported from a bare spec.
    WEIGHTS = \(weightsLiteral)
    # The test accuracy cnnc reported for these weights (summary.json).
    CNNC_TEST_ACCURACY = \(recorded)
    # L2 weight decay per module index (per-layer `weight_decay` in the spec, else the optimizer's).
    WEIGHT_DECAY = {\(decays.joined(separator: ", "))}
    \(validationNote)

    def build_model() -> nn.Sequential:
        \"\"\"The spec's layers in order; module i's parameters are named "i.weight", "i.bias", … as in
        cnnc's weights.safetensors.\"\"\"
        model = nn.Sequential(
    \(modules)
        )
        count = sum(p.numel() for p in model.parameters())
        assert count == PARAMETERS, f"{count} parameters, cnnc counted {PARAMETERS}"
        return model


    def read_idx(directory, stem):
        for name in (stem + ".gz", stem):
            path = os.path.join(directory, name)
            if os.path.exists(path):
                with (gzip.open if name.endswith(".gz") else open)(path, "rb") as f:
                    data = f.read()
                dims = struct.unpack(">" + "I" * (data[3]), data[4:4 + 4 * data[3]])
                return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * data[3]).reshape(dims)
        raise SystemExit(f"{stem}(.gz) not found in {directory}")


    def load_mnist(directory, train):
        prefix = "train" if train else "t10k"
        images = read_idx(directory, prefix + "-images-idx3-ubyte").astype(np.float32)
        labels = read_idx(directory, prefix + "-labels-idx1-ubyte").astype(np.int64)
        x = torch.from_numpy((images / 255.0 - MEAN) / STD).unsqueeze(1)  # [N, 1, 28, 28]
        return x, torch.from_numpy(labels)


    def train(model, data_dir, epochs=EPOCHS):
        torch.manual_seed(SEED)
        all_images, all_labels = load_mnist(data_dir, train=True)
        if LIMIT is not None:
            all_images, all_labels = all_images[:LIMIT], all_labels[:LIMIT]
        groups = [{"params": list(model[i].parameters()), "weight_decay": decay} for i, decay in WEIGHT_DECAY.items()]
        optimizer = \(optimizer)
        for epoch in range(1, epochs + 1):
            model.train()
            order = torch.randperm(len(all_images))
            total = 0.0
            for first in range(0, len(all_images), BATCH_SIZE):
                batch = order[first:first + BATCH_SIZE]
                images, labels = all_images[batch], all_labels[batch]
                \(loss)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += loss.item() * len(batch)
            print(f"epoch {epoch}/{epochs}  loss {total / len(all_images):.4f}  test {evaluate(model, data_dir):.4f}", flush=True)


    @torch.no_grad()
    def evaluate(model, data_dir):
        \"\"\"Test accuracy in evaluation mode (batch norm uses running statistics, dropout is off).\"\"\"
        model.eval()
        images, labels = load_mnist(data_dir, train=False)
        correct = sum((model(images[i:i + 1000]).argmax(1) == labels[i:i + 1000]).sum().item()
                      for i in range(0, len(images), 1000))
        return correct / len(images)


    def load_weights(model, path):
        from safetensors.torch import load_file
        model.load_state_dict(load_file(path), strict=True)


    def main():
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("--data", default=os.environ.get("CNNC_DATA", "mnist"), help="MNIST directory")
        parser.add_argument("--evaluate-only", action="store_true", help="load the weights and print the test accuracy")
        here = os.path.dirname(os.path.abspath(__file__))
        parser.add_argument("--weights", default=WEIGHTS and os.path.join(here, WEIGHTS), help="weights.safetensors")
        parser.add_argument("--epochs", type=int, default=EPOCHS)
        args = parser.parse_args()
        model = build_model()
        if args.evaluate_only:
            if not args.weights:
                raise SystemExit("no weights: export from a run directory, or pass --weights FILE")
            load_weights(model, args.weights)
            accuracy = evaluate(model, args.data)
            print(f"test accuracy {accuracy:.4f} ({round(accuracy * 10000)} / 10000); cnnc reported {CNNC_TEST_ACCURACY}")
        else:
            train(model, args.data, args.epochs)


    if __name__ == "__main__":
        main()

    """
}

private func pythonString(_ text: String) -> String {
    "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
}

/// `path` relative to `directory` (both made absolute first).
public func relativePath(_ path: String, from directory: String) -> String {
    let cwd = FileManager.default.currentDirectoryPath
    func absolute(_ p: String) -> [String] {
        let full = p.hasPrefix("/") ? p : cwd + "/" + p
        var parts: [String] = []
        for part in full.split(separator: "/") {
            if part == "." || part.isEmpty { continue }
            if part == ".." { if !parts.isEmpty { parts.removeLast() } } else { parts.append(String(part)) }
        }
        return parts
    }
    let target = absolute(path), base = absolute(directory.isEmpty ? "." : directory)
    var common = 0
    while common < min(target.count, base.count) && target[common] == base[common] { common += 1 }
    let ups = Array(repeating: "..", count: base.count - common)
    let rest = ups + target[common...]
    return rest.isEmpty ? "." : rest.joined(separator: "/")
}
