import ArgumentParser
import Runtime

struct Train: ParsableCommand {
    func run() throws {}
}
