import ArgumentParser
import Graph
import Runtime
import Spec

struct Schema: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the JSON Schema (draft-07) of the spec format, for editors and validators.",
        discussion: """
            Generated from cnnc's layer table; the repository commits it as schema/cnnc-spec.schema.json. \
            Start a spec with `# yaml-language-server: $schema=PATH/cnnc-spec.schema.json` to get completion \
            and checks in editors that use yaml-language-server.
            """)

    @Flag(help: "Print the README's layer table (Markdown) instead, generated from the same table.")
    var readmeTable = false

    func run() throws {
        print(readmeTable ? layerTableMarkdown() : SpecSchema.text, terminator: "")
    }
}
