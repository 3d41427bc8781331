import Foundation
import XCTest
@testable import Runtime
import Graph
import Spec

/// Run directories and records (issue 11, part 2 and defects 1, 5, 7, 8, 13, 14).
final class RunDirectoryTests: XCTestCase {
    var scratch = ""

    override func setUpWithError() throws {
        scratch = try makeTempDirectory("cnnc-rundir")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: scratch)
    }

    func testNamesUsedInPathsStayInOneComponent() {
        XCTAssertEqual(pathSafeName("lenet"), "lenet")
        XCTAssertEqual(pathSafeName("mnist-cnn_v2.1"), "mnist-cnn_v2.1")
        XCTAssertEqual(pathSafeName("../../../../tmp/escaped"), "_._.._.._.._tmp_escaped")
        XCTAssertEqual(pathSafeName("\u{1B}]0;pwned\u{07}"), "__0_pwned_")
        XCTAssertEqual(pathSafeName(".hidden"), "_hidden")
        XCTAssertEqual(pathSafeName(""), "run")
        XCTAssertEqual(pathSafeName("é"), "_")
        XCTAssertEqual(pathSafeName(String(repeating: "a", count: 300)).count, 64)
        let directory = defaultRunDirectory(name: "../../x", at: Date(timeIntervalSince1970: 0))
        XCTAssertTrue(directory.hasPrefix("runs/_._.._x-"), directory)
        XCTAssertEqual(directory.split(separator: "/").count, 2, directory)
    }

    func testSpecCopiesNeverTakeARunFilesName() {
        XCTAssertEqual(specCopyName("examples/lenet.yaml"), "lenet.yaml")
        for name in ["weights.safetensors", "metrics.jsonl", "summary.json", "curves.svg", "resolved.yaml", "checkpoint", ".lock"] {
            XCTAssertEqual(specCopyName("/tmp/" + name), "spec-" + name)
        }
    }

    func testNewDirectoriesAreUnique() throws {
        let base = scratch + "/runs/lenet-20260101-000000"
        let first = try createNewDirectory(base)
        let second = try createNewDirectory(base)
        let third = try createNewDirectory(base)
        XCTAssertEqual([first, second, third], [base, base + "-2", base + "-3"])
    }

    func testParentDirectories() {
        XCTAssertNil(parentDirectory("a"), "Foundation's deletingLastPathComponent trapped on this one")
        XCTAssertNil(parentDirectory("/"))
        XCTAssertNil(parentDirectory("/a"))
        XCTAssertEqual(parentDirectory("runs/a"), "runs")
        XCTAssertEqual(parentDirectory("runs//a/"), "runs")
        XCTAssertEqual(parentDirectory("/tmp/x/y"), "/tmp/x")
        XCTAssertEqual(specCopyName("a"), "a")
    }

    func testRelativeOneLetterDirectories() throws {
        let previous = FileManager.default.currentDirectoryPath
        FileManager.default.changeCurrentDirectoryPath(scratch)
        defer { FileManager.default.changeCurrentDirectoryPath(previous) }
        try createDirectory("a")
        try createDirectory("b/c")
        XCTAssertEqual(try createNewDirectory("a"), "a-2")
        XCTAssertTrue(FileManager.default.fileExists(atPath: scratch + "/b/c"))
    }

    func testALockedDirectoryIsRefused() throws {
        var lock: RunDirectoryLock? = try RunDirectoryLock(directory: scratch)
        XCTAssertThrowsError(try RunDirectoryLock(directory: scratch)) { error in
            XCTAssertTrue("\(error)".contains("in use by another cnnc run"), "\(error)")
        }
        withExtendedLifetime(lock) {}
        lock = nil
        XCTAssertNoThrow(try RunDirectoryLock(directory: scratch), "released when the holder goes")
    }

    func testADirectoryBelowAFileNamesTheFile() throws {
        let file = scratch + "/file"
        try writeBytes([1], to: file)
        XCTAssertThrowsError(try createDirectory(file + "/a/b")) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("/file'") && text.contains("not a directory"), text)
            XCTAssertFalse(text.contains("NSCocoaErrorDomain"), text)
        }
    }

    func testHoldsRun() throws {
        XCTAssertFalse(holdsRun(scratch))
        _ = try RunDirectoryLock(directory: scratch)
        XCTAssertFalse(holdsRun(scratch), "a lock alone is not a run")
        try writeBytes([], to: scratch + "/metrics.jsonl")
        XCTAssertTrue(holdsRun(scratch))
        try removeRunFiles(scratch)
        XCTAssertFalse(holdsRun(scratch))
    }

    func testHugeNumbersFormatWithoutTrapping() {
        XCTAssertEqual(formatFixed(3.14159, digits: 2), "3.14")
        XCTAssertEqual(formatFixed(1e300, digits: 4), "1e+300")
        XCTAssertEqual(formatFixed(-9.3e18, digits: 0), "-9.3e+18")
        XCTAssertEqual(formatFixed(.infinity, digits: 1), "inf")
    }

    func testResolvedSpecCompilesToTheSameGraph() throws {
        let text = """
            name: "odd \\"name\\""
            layers:
              - Conv2D: {out_channels: 6, kernel_size: [5, 3], padding: 2, weight_decay: 0.00001}
              - BatchNorm2D
              - ReLU
              - MaxPool2D: {kernel_size: 2}
              - Dropout
              - Linear: {out_features: 10, bias: false}
            train: {epochs: 3, optimizer: {name: sgd, lr: 0.1}}

            """
        let original = Compilation.compile(source: SourceFile(path: "o.yaml", text: text), dropout: 0.125)
        let spec = try XCTUnwrap(original.spec, original.renderedDiagnostics)
        var optimizer = OptimizerSettings(kind: .sgd, lr: 0.1, momentum: 0.5, weightDecay: 1e-5)
        optimizer.beta1 = 0.9
        let settings = TrainingSettings(epochs: 3, batchSize: 16, optimizer: optimizer, seed: 42, threads: 1, validation: 0, limit: nil)
        let yaml = resolvedSpecYAML(spec, settings: settings)
        let resolved = Compilation.compile(source: SourceFile(path: "resolved.yaml", text: yaml))
        XCTAssertFalse(resolved.hasErrors, resolved.renderedDiagnostics + yaml)
        let a = try XCTUnwrap(original.graph)
        let b = try XCTUnwrap(resolved.graph, yaml)
        XCTAssertEqual(a.name, b.name)
        XCTAssertEqual(a.steps.map(\.op), b.steps.map(\.op), yaml)
        XCTAssertEqual(a.steps.map(\.weightDecay), b.steps.map(\.weightDecay), yaml)
        let train = try XCTUnwrap(resolved.spec?.train)
        let again = TrainingSettings.resolve(spec: train, overrides: TrainingOverrides(), threads: 1, validation: 0, limit: nil)
        XCTAssertEqual(again, settings, yaml)
        XCTAssertTrue(yaml.contains("Dropout: {p: 0.125}"), yaml)
    }

    func testSummaryRecordsEveryDropoutsEffectiveP() throws {
        let compilation = Compilation.compile(path: examplePath("lenet.yaml"), dropout: 0.4)
        let graph = try XCTUnwrap(compilation.graph)
        let layers = dropoutLayersJSON(graph).rendered()
        // Steps: conv, relu, pool, conv, relu, pool, the implicit flatten, linear, relu, dropout (9), …
        XCTAssertEqual(layers, "[{\"step\":9,\"name\":\"dropout_9\",\"p\":0.4}]")
    }

    func testChannelsLastInputGetsAHintAtInput() throws {
        let text = """
            input: [28, 28, 1]
            layers:
              - Conv2D: {out_channels: 4, kernel_size: 3}
              - Linear: {out_features: 10}

            """
        let compilation = Compilation.compile(source: SourceFile(path: "hwc.yaml", text: text))
        let warning = try XCTUnwrap(compilation.diagnostics.first { $0.message.contains("(C, H, W)") }, compilation.renderedDiagnostics)
        XCTAssertEqual(warning.location?.line, 1)
        XCTAssertEqual(warning.hint, "for 28×28 images with 1 channel write [1, 28, 28]")
        let fine = Compilation.compile(source: SourceFile(path: "chw.yaml", text: text.replacingOccurrences(of: "[28, 28, 1]", with: "[1, 28, 28]")))
        XCTAssertFalse(fine.renderedDiagnostics.contains("(C, H, W)"))
    }
}

/// examples/NAME from the package root (found from this file's path).
func examplePath(_ name: String) -> String {
    var url = URL(fileURLWithPath: #filePath)
    while url.path != "/" && !FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
        url.deleteLastPathComponent()
    }
    return url.appendingPathComponent("examples").appendingPathComponent(name).path
}
