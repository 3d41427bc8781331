import ArgumentParser
import Foundation
import Graph
import Runtime
import Spec

struct Download: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Download MNIST (the four IDX files) and verify their checksums.",
        discussion: "Into --data DIR, else $CNNC_DATA, else ~/.cache/cnnc/mnist. Files already there are verified, not fetched again.")

    @Option(help: "Directory to hold MNIST.")
    var data: String?

    @Option(help: "Mirror to download from (repeatable; default: $CNNC_MNIST_MIRROR, else the torchvision mirrors).")
    var mirror: [String] = []

    @Flag(help: "Fetch all four files again, replacing those present (each only after the new one verifies).")
    var force = false

    func run() throws {
        let flags = try DataFlags.parse(dataArguments())
        if force { try downloadAll(flags) }
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

/// `download --force`: fetches every file, each put in place only once verified; a corrupt
/// uncompressed `STEM` is set aside by the fresh `STEM.gz`, which is read first.
private func downloadAll(_ flags: DataFlags) throws {
    let environment = ProcessInfo.processInfo.environment
    let directory = MNIST.resolveDirectory(flag: flags.data, environment: environment)
    let mirrors = MNISTDownloader.resolveMirrors(flags: flags.mirror, environment: environment)
    var bar = ProgressBar(enabled: true)
    let lock = NSLock()
    let downloader = MNISTDownloader(mirrors: mirrors) { file, bytes, total in
        lock.lock()
        defer { lock.unlock() }
        let fraction = total.map { Double(bytes) / Double(max($0, 1)) } ?? 0
        bar.draw(prefix: "downloading \(file)", fraction: fraction, suffix: formatBytes(Int(bytes)))
    }
    do {
        try createDirectory(directory)
        for file in MNISTFile.all { try downloader.download(file, into: directory) }
        bar.clear()
    } catch {
        bar.clear()
        printError("error: \(error)")
        throw ExitCode.failure
    }
}

/// What to do about a data error: fetch what is missing, or replace what is corrupt (dropping
/// --no-download re-fetches nothing that is present).
func dataHint(_ error: Error, noDownload: Bool) -> String? {
    guard let error = error as? DataError else { return nil }
    switch error {
    case .missingFile:
        return noDownload
            ? "drop --no-download to fetch MNIST, or point --data (or $CNNC_DATA) at a directory holding the four files"
            : nil
    case .downloadFailed, .cannotWrite:
        return nil
    case .checksumMismatch:
        return nil  // its message says how to replace the file
    default:
        return "the file is damaged: replace the four files with `cnnc download --force --data DIR`, or delete it and run `cnnc download`"
    }
}
