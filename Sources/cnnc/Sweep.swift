import ArgumentParser
import Runtime

struct Sweep: ParsableCommand {
    func run() throws {}
}
