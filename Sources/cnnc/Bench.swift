import ArgumentParser
import Runtime

struct Bench: ParsableCommand {
    func run() throws {}
}
