import ArgumentParser
import Foundation
import Graph
import Runtime
import Spec

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export a spec or a trained run as PyTorch code (nn.Sequential) and/or an ONNX model.",
        discussion: """
        --pytorch writes a self-contained Python file: build_model() with the spec's layers, MNIST \
        loading with cnnc's normalization, train() with the run's hyperparameters, evaluate(), and \
        (for a run) loading weights.safetensors with strict=True; `python3 FILE.py --evaluate-only` \
        prints the test accuracy. --onnx (a run only) writes an opset-13 model in evaluation mode. \
        Existing files are not overwritten.
        """)

    @Argument(help: "Spec file (YAML) or run directory written by cnnc train.")
    var source: String

    @Option(help: "Write PyTorch code to this .py file.")
    var pytorch: String?

    @Option(help: "Write an ONNX model to this file (needs a run directory: the weights).")
    var onnx: String?

    func validate() throws {
        if pytorch == nil && onnx == nil { throw ValidationError("give --pytorch FILE.py and/or --onnx FILE.onnx") }
    }

    func run() throws {
        do {
            for path in [pytorch, onnx].compactMap({ $0 }) { try requireNew(path) }
            let saved = try SavedRun.load(source)
            if onnx != nil && saved.weights == nil {
                throw HandinError("\(source): --onnx needs a run directory (a spec has no trained weights)")
            }
            // Everything is generated before anything is written.
            let python = pytorch.map { Array(pytorchSource(saved, outputPath: $0).utf8) }
            let model = onnx.map { _ in onnxModel(saved) }
            if let pytorch, let python {
                try writeNew(python, to: pytorch)
                print("wrote \(pytorch) (\(saved.graph.name), \(groupedThousands(saved.graph.parameterCount)) parameters)")
            }
            if let onnx, let model {
                try writeNew(model, to: onnx)
                print("wrote \(onnx) (opset 13, input [N, 1, 28, 28] normalized, output [N, 10])")
            }
        } catch let error as HandinError {
            printError("error: \(error)")
            throw ExitCode.failure
        }
    }

    private func writeNew(_ bytes: [UInt8], to path: String) throws {
        do {
            try writeFileAtomically(bytes, to: path)
        } catch {
            throw HandinError("\(error)")
        }
    }
}
