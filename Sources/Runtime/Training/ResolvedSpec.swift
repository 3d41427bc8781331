import Foundation
import Graph
import Spec

/// `resolved.yaml`: the spec a run actually trained, every layer argument and every training
/// setting written out (defaults, `--dropout` and command-line overrides applied). The run
/// directory keeps the original spec next to it, byte for byte; `cnnc train resolved.yaml`
/// with the same --threads, --val and --limit repeats the run.
public func resolvedSpecYAML(_ spec: ModelSpec, settings: TrainingSettings) -> String {
    func pair(_ p: Pair) -> String { p.h == p.w ? "\(p.h)" : "[\(p.h), \(p.w)]" }
    func arguments(_ pairs: [(String, String?)]) -> String {
        "{" + pairs.compactMap { key, value in value.map { "\(key): \($0)" } }.joined(separator: ", ") + "}"
    }
    var out = "# The spec this run trained, resolved: defaults, --dropout and command-line settings applied.\n"
    out += "name: \(jsonQuoted(spec.name))\n"
    out += "input: [\(spec.input.map(String.init).joined(separator: ", "))]\n"
    out += "layers:\n"
    for layer in spec.layers {
        let name = layer.name.map(jsonQuoted)
        let line: String
        switch layer.kind {
        case let .conv2d(c):
            line = arguments([("out_channels", "\(c.outChannels)"), ("kernel_size", pair(c.kernel)), ("stride", pair(c.stride)),
                              ("padding", pair(c.padding)), ("bias", "\(c.bias)"), ("weight_decay", c.weightDecay.map(yamlNumber)),
                              ("name", name)])
        case let .maxPool2d(m):
            line = arguments([("kernel_size", pair(m.kernel)), ("stride", pair(m.stride)), ("padding", pair(m.padding)), ("name", name)])
        case let .batchNorm2d(b):
            line = arguments([("eps", yamlNumber(b.eps)), ("momentum", yamlNumber(b.momentum)), ("name", name)])
        case let .dropout(d):
            line = arguments([("p", yamlNumber(d.p)), ("name", name)])
        case let .linear(l):
            line = arguments([("out_features", "\(l.outFeatures)"), ("bias", "\(l.bias)"),
                              ("weight_decay", l.weightDecay.map(yamlNumber)), ("name", name)])
        case .relu, .softmax:
            line = arguments([("name", name)])
        }
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
