import ArgumentParser
import Foundation
import Graph
import Runtime
import Spec

@main
struct CNNC: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cnnc",
        abstract: "Compile, check and train small CNNs described in YAML, on MNIST.",
        version: cnncVersion,
        subcommands: [Check.self, Train.self, Sweep.self, Bench.self, Download.self, Schema.self, LSP.self, Lockstep.self,
                      Eval.self,    // hand-in: re-evaluate a run
                      Export.self,  // hand-in: PyTorch / ONNX
                      Report.self,  // hand-in: Markdown / LaTeX
                     ])

    /// Exit codes: 0 success, 1 an invalid spec or a failed run, 2 misuse of the command line.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            let message = FlagSuggestions.adding(to: fullMessage(for: error), arguments: CommandLine.arguments)
            if code == .success {
                print(message)
                Foundation.exit(0)
            }
            if !message.isEmpty {
                printError(message)
            }
            let isUsage = code == .validationFailure || error is ValidationError
            Foundation.exit(isUsage ? 2 : Int32(code.rawValue))
        }
    }
}
