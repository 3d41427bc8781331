import ArgumentParser
import Foundation
import Graph
import Runtime
import Spec

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Re-evaluate a run's saved weights: accuracy, per-class metrics, confusion matrix, most confident mistakes.",
        discussion: """
        Writes eval.json, confusion.svg and confusion.pdf (a heatmap with counts) and mistakes.png \
        (the 25 most confidently wrong test digits) into the run directory.
        """)

    @Argument(help: "Run directory written by cnnc train (or one run of a sweep).")
    var runDirectory: String

    @Option(help: "MNIST directory (default: $CNNC_DATA, else ~/.cache/cnnc/mnist).")
    var data: String?

    @Option(help: "Also write every test output row (and label) to this safetensors file: tensors 'outputs' [N, 10] F32 and 'labels' [N] I64.")
    var saveOutputs: String?

    @Flag(help: "Print eval.json to standard output instead of the tables.")
    var json = false

    func run() throws {
        do {
            try evaluateRun()
        } catch let error as HandinError {
            printError("error: \(error)")
            throw ExitCode.failure
        }
    }

    private func evaluateRun() throws {
        if let saveOutputs { try requireNew(saveOutputs) }
        let saved = try SavedRun.loadRun(directory: runDirectory)
        let directory = MNIST.resolveDirectory(flag: data, environment: ProcessInfo.processInfo.environment)
        let mnist: MNIST
        do {
            mnist = try prepareMNIST(directory: directory, download: false, mirrors: [])
        } catch {
            throw HandinError("\(error) (cnnc download fetches MNIST; --data points at it)")
        }
        let report = try HandinEvaluation(saved: saved, data: mnist)
        let files = try report.write(saveOutputs: saveOutputs)
        if json {
            print(report.json.rendered(pretty: true))
        } else {
            print(report.text)
            print("wrote " + files.joined(separator: ", "))
        }
        if let warning = report.summaryMismatch { printError("warning: \(warning)") }
    }
}
