import Foundation
import Graph
import Spec

/// `resolved.yaml`: the spec a run actually trained, every layer argument and every training
/// setting written out (defaults, `--dropout` and command-line overrides applied). The run
/// directory keeps the original spec next to it, byte for byte; `cnnc train resolved.yaml`
/// with the same --threads, --val and --limit repeats the run.
public func resolvedSpecYAML(_ spec: ModelSpec, settings: TrainingSettings) -> String {
    func arguments(_ pairs: [(String, String?)]) -> String {
        "{" + pairs.compactMap { key, value in value.map { "\(key): \($0)" } }.joined(separator: ", ") + "}"
    }
    var out = "# The spec this run trained, resolved: defaults, --dropout and command-line settings applied.\n"
    out += "name: \(jsonQuoted(spec.name))\n"
    out += "input: [\(spec.input.map(String.init).joined(separator: ", "))]\n"
    out += "layers:\n"
    for layer in spec.layers {
        // Every argument the kind's spec holds (`LayerKindSpec.argumentValues`), in table order.
        let values = layer.kind.spec.argumentValues
        let line = arguments(layer.kind.name.schema.arguments.map { argument -> (String, String?) in
            if argument.key == "name" { return ("name", layer.name.map(jsonQuoted)) }
            return (argument.key, values[argument.key].map(yamlValue))
        })
        out += "  - \(layer.kind.canonicalName): \(line)\n"
    }
    let o = settings.optimizer
    out += "train:\n"
    out += "  epochs: \(settings.epochs)\n"
    out += "  batch_size: \(settings.batchSize)\n"
    var optimizer: [(String, String?)] = [("name", o.kind.rawValue), ("lr", yamlNumber(o.lr))]
    if o.kind == .sgd { optimizer.append(("momentum", yamlNumber(o.momentum))) }
    optimizer.append(("weight_decay", yamlNumber(o.weightDecay)))
    out += "  optimizer: \(arguments(optimizer))\n"
    out += "  seed: \(settings.seed)\n"
    return out
}

/// An argument's value as YAML: `3`, `[3, 5]`, `1.0e-05`, `true`.
private func yamlValue(_ value: ArgumentValue) -> String {
    switch value {
    case let .integer(n): return "\(n)"
    case let .pair(p): return p.h == p.w ? "\(p.h)" : "[\(p.h), \(p.w)]"
    case let .number(x): return yamlNumber(x)
    case let .boolean(b): return "\(b)"
    case let .string(text): return jsonQuoted(text)
    }
}

/// A number YAML 1.1 readers (PyYAML) and cnnc both read as a float: `1e-05` becomes `1.0e-05`.
private func yamlNumber(_ value: Double) -> String {
    var text = "\(value)"
    if text.contains("e") && !text.contains(".") {
        text = text.replacingOccurrences(of: "e", with: ".0e")
    }
    return text
}

/// Writes `resolved.yaml` into a run directory.
public func writeResolvedSpec(compilation: Compilation, settings: TrainingSettings, directory: String) throws {
    guard let spec = compilation.spec else { return }
    try writeFileAtomically(Array(resolvedSpecYAML(spec, settings: settings).utf8), to: directory + "/resolved.yaml")
}
