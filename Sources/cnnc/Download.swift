import ArgumentParser
import Foundation
import Runtime

struct Download: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Download MNIST (the four IDX files) and verify their checksums.",
        discussion: "Into --data DIR, else $CNNC_DATA, else ~/.cache/cnnc/mnist. Files already there are verified, not fetched again.")

    @Option(help: "Directory to hold MNIST.")
    var data: String?

    @Option(help: "Mirror to download from (repeatable; default: $CNNC_MNIST_MIRROR, else the torchvision mirrors).")
    var mirror: [String] = []

    func run() throws {
        let flags = try DataFlags.parse(dataArguments())
        let mnist = try loadData(flags, quiet: false)
        let directory = MNIST.resolveDirectory(flag: data, environment: ProcessInfo.processInfo.environment)
        print("MNIST ready in \(directory): \(groupedThousands(mnist.trainCount)) training and \(groupedThousands(mnist.testCount)) test images, checksums verified")
    }

    private func dataArguments() -> [String] {
        var arguments: [String] = []
        if let data { arguments += ["--data", data] }
        for url in mirror { arguments += ["--mirror", url] }
        return arguments
    }
}
