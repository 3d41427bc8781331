import Foundation
import XCTest

/// What one `cnnc` invocation did.
struct CLIResult {
    var status: Int32
    var stdout: String
    var stderr: String
    var seconds: Double

    /// Both streams, for failure messages.
    var transcript: String {
        "exit \(status)\n--- stdout ---\n\(stdout)\n--- stderr ---\n\(stderr)"
    }
}

enum CLI {
    /// The package root (the directory holding Package.swift), found from this file's path.
    static let packageRoot: URL = {
        var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while url.path != "/" {
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
            url.deleteLastPathComponent()
        }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }()

    static func example(_ name: String) -> String {
        packageRoot.appendingPathComponent("examples").appendingPathComponent(name).path
    }

    /// The built `cnnc` executable: the `cnnc` file next to the test bundle (walking up a few
    /// directories from the bundle and from the test process). `$CNNC_BIN` overrides.
    static let executable: String? = {
        let fm = FileManager.default
        if let override = ProcessInfo.processInfo.environment["CNNC_BIN"], fm.isExecutableFile(atPath: override) {
            return override
        }
        var starts: [URL] = [Bundle(for: BundleToken.self).bundleURL, Bundle.main.bundleURL]
        if let path = Bundle.main.executablePath { starts.append(URL(fileURLWithPath: path)) }
        starts.append(URL(fileURLWithPath: CommandLine.arguments[0]))
        for start in starts {
            var dir = start.standardizedFileURL
            for _ in 0..<5 {
                let candidate = dir.appendingPathComponent("cnnc")
                var isDirectory: ObjCBool = false
                if fm.fileExists(atPath: candidate.path, isDirectory: &isDirectory), !isDirectory.boolValue,
                   fm.isExecutableFile(atPath: candidate.path) {
                    return candidate.path
                }
                if dir.path == "/" { break }
                dir.deleteLastPathComponent()
            }
        }
        return nil
    }()

    /// The binary, or a test failure saying how to get one.
    static func binary(file: StaticString = #filePath, line: UInt = #line) throws -> String {
        guard let path = executable else {
            throw CLIError("""
                cannot find the built `cnnc` executable next to the test bundle \
                (\(Bundle(for: BundleToken.self).bundleURL.path)); build the package first \
                (`swift build -c release --build-tests`) or set CNNC_BIN
                """)
        }
        return path
    }

    /// MNIST: `$CNNC_DATA`, else `../shared/data/mnist` next to the package root; the test fails
    /// when it is absent (no silent skip).
    static func mnistDirectory() throws -> String {
        let fm = FileManager.default
        let candidates: [String?] = [ProcessInfo.processInfo.environment["CNNC_DATA"],
                          packageRoot.deletingLastPathComponent().appendingPathComponent("shared/data/mnist").path]
        for case let dir? in candidates where !dir.isEmpty {
            let stems = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
            let complete = stems.allSatisfy { stem in
                fm.fileExists(atPath: "\(dir)/\(stem)") || fm.fileExists(atPath: "\(dir)/\(stem).gz")
            }
            if complete { return dir }
        }
        throw CLIError("MNIST not found (set CNNC_DATA or put it in ../shared/data/mnist); tests that need it fail")
    }

    /// Runs `cnnc` with `arguments`, capturing both streams through files (no pipe deadlocks).
    @discardableResult
    /// Runs cnnc; with `interruptAfter`, sends it SIGINT (Ctrl-C) that many seconds after start.
    static func run(_ arguments: [String], currentDirectory: String? = nil, interruptAfter: TimeInterval? = nil,
                    file: StaticString = #filePath, line: UInt = #line) throws -> CLIResult {
        let binary = try binary(file: file, line: line)
        let scratch = try temporaryDirectory(prefix: "cnnc-io")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let outPath = scratch + "/stdout"
        let errPath = scratch + "/stderr"
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        let err = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: currentDirectory ?? packageRoot.path)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = out
        process.standardError = err
        let started = Date()
        try process.run()
        if let interruptAfter {
            Thread.sleep(forTimeInterval: interruptAfter)
            process.interrupt()
        }
        process.waitUntilExit()
        let seconds = Date().timeIntervalSince(started)
        try out.close()
        try err.close()
        let stdout = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        let stderr = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        if process.terminationReason == .uncaughtSignal {
            XCTFail("cnnc \(arguments.joined(separator: " ")) died with signal \(process.terminationStatus)\n\(stderr)",
                    file: file, line: line)
        }
        return CLIResult(status: process.terminationStatus, stdout: stdout, stderr: stderr, seconds: seconds)
    }

    /// Starts cnnc without waiting for it (output discarded), for tests that signal it.
    static func start(_ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try binary())
        process.arguments = arguments
        process.currentDirectoryURL = packageRoot
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        return process
    }

    /// Waits (up to `timeout` seconds) until `path` exists; false if it never did or the process ended.
    static func waitFor(_ path: String, while process: Process, timeout: Double = 600) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if FileManager.default.fileExists(atPath: path) { return true }
            if !process.isRunning { return false }
            usleep(5_000)
        }
        return false
    }

    /// A fresh, empty directory under the system temporary directory.
    static func temporaryDirectory(prefix: String = "cnnc-test") throws -> String {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url.path
    }

    /// Writes `text` to `name` in `directory` and returns its path.
    static func write(_ text: String, named name: String, in directory: String) throws -> String {
        let path = directory + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Parses JSON text into a dictionary, failing the test when it is not one.
    static func jsonObject(_ text: String, file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(text.utf8), options: [])
        guard let dictionary = object as? [String: Any] else {
            throw CLIError("expected a JSON object, got \(type(of: object)):\n\(text)")
        }
        return dictionary
    }
}

/// A failure of the test harness itself (no binary, unexpected output shape).
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A class in this bundle, for `Bundle(for:)`.
final class BundleToken {}

extension Array where Element == Any {
    var ints: [Int] { compactMap { ($0 as? NSNumber)?.intValue } }
}

/// `1234567` → `1,234,567`, as cnnc prints counts.
func grouped(_ value: Int) -> String {
    let digits = String(value)
    var out = ""
    for (i, ch) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { out += "," }
        out.append(ch)
    }
    return out
}
