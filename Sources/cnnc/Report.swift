import ArgumentParser
import Foundation
import Graph
import Runtime
import Spec

extension ReportFormat: ExpressibleByArgument {}

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a hand-in section (tables and figures) for run and sweep directories, in Markdown or LaTeX.",
        discussion: """
        LaTeX uses booktabs tables and includes the PDF figures (\\usepackage{booktabs,graphicx}). \
        Run `cnnc eval RUN` first to include the confusion matrix, per-class table and mistakes grid.
        """)

    @Argument(help: "Run and sweep directories, in the order they should appear.")
    var directories: [String]

    @Option(help: "md or latex.")
    var format: ReportFormat = .markdown

    @Option(help: "Write the report to this file (it must not exist) instead of standard output; figure paths are relative to it.")
    var out: String?

    func run() throws {
        do {
            if let out { try requireNew(out) }
            let sources = try directories.map(ReportSource.load)
            let base = out.map { ($0 as NSString).deletingLastPathComponent } ?? "."
            let text = handinReport(sources, format: format, baseDirectory: base.isEmpty ? "." : base)
            if let out {
                do {
                    try writeFileAtomically(Array(text.utf8), to: out)
                } catch {
                    throw HandinError("\(error)")
                }
                printError("wrote \(out)")
            } else {
                print(text, terminator: "")
            }
        } catch let error as HandinError {
            printError("error: \(error)")
            throw ExitCode.failure
        }
    }
}
