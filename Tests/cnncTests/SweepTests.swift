import Foundation
import XCTest

/// End-to-end tests of `cnnc sweep` on MNIST. Every run is tiny (640 training images, 200
/// validation images, one thread); tests that need MNIST fail when it is absent.
final class SweepTests: XCTestCase {
    var scratch = ""

    override func setUpWithError() throws {
        scratch = try CLI.temporaryDirectory(prefix: "cnnc-sweep")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: scratch)
    }

    /// `cnnc sweep FILE --dropout VALUES` with the tiny data flags and `--out OUT`.
    func sweep(_ file: String = CLI.example("lenet.yaml"), dropout: String, out: String, _ arguments: [String] = [],
               sourceFile: StaticString = #filePath, line: UInt = #line) throws -> CLIResult {
        let data = try CLI.mnistDirectory()
        return try CLI.run(["sweep", file, "--dropout", dropout, "--limit", "640", "--val", "200", "--batch-size", "32",
                            "--threads", "1", "--no-download", "--data", data, "--out", out] + arguments,
                           file: sourceFile, line: line)
    }

    // MARK: - Reading the outputs

    /// sweep.csv as rows of fields keyed by the header (quoted fields unquoted).
    func readCSV(_ path: String, file: StaticString = #filePath, line: UInt = #line) throws -> [[String: String]] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        guard let header = lines.first else { throw CLIError("empty CSV \(path)") }
        XCTAssertTrue(header.hasSuffix("seed,status,train_loss,val_acc,test_acc,seconds,reason,directory"), header, file: file, line: line)
        let names = parseCSVLine(header)
        return lines.dropFirst().map { row in
            let fields = parseCSVLine(row)
            XCTAssertEqual(fields.count, names.count, "CSV row '\(row)'", file: file, line: line)
            return Dictionary(uniqueKeysWithValues: zip(names, fields))
        }
    }

    func parseCSVLine(_ line: String) -> [String] {
        var fields: [String] = []
        var field = ""
        var quoted = false
        var chars = Array(line)[...]
        while let c = chars.popFirst() {
            if quoted {
                if c == "\"" {
                    if chars.first == "\"" { field.append("\""); chars.removeFirst() } else { quoted = false }
                } else {
                    field.append(c)
                }
            } else if c == "\"" {
                quoted = true
            } else if c == "," {
                fields.append(field)
                field = ""
            } else {
                field.append(c)
            }
        }
        fields.append(field)
        return fields
    }

    func readJSON(_ path: String) throws -> [String: Any] {
        try CLI.jsonObject(try String(contentsOfFile: path, encoding: .utf8))
    }

    func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    /// The table's line for value `p` (the first cell, right-aligned, is p).
    func tableLine(_ stdout: String, p: String) -> String? {
        stdout.split(separator: "\n").map(String.init).first { line in
            line.split(separator: " ").first.map(String.init) == p && !line.hasPrefix("p=")
        }
    }

    // MARK: - A normal sweep

    func testTwoValuesWriteEveryFile() throws {
        let out = scratch + "/basic"
        let result = try sweep(dropout: "0,0.5", out: out)
        XCTAssertEqual(result.status, 0, result.transcript)

        // sweep.csv: header + one row per run.
        let csv = try readCSV(out + "/sweep.csv")
        XCTAssertEqual(csv.map { $0["dropout"] }, ["0", "0.5"])
        for row in csv {
            XCTAssertEqual(row["status"], "ok", "\(row)")
            XCTAssertEqual(row["seed"], "0")
            XCTAssertEqual(row["reason"], "")
            for key in ["train_loss", "val_acc", "test_acc", "seconds"] {
                XCTAssertNotNil(Double(row[key] ?? ""), "\(key) in \(row)")
            }
            XCTAssertTrue((0...1).contains(Double(row["val_acc"] ?? "") ?? -1))
        }

        // sweep.json
        let json = try readJSON(out + "/sweep.json")
        XCTAssertEqual(json["parameters"] as? [String], ["dropout"])
        let axes = try XCTUnwrap(json["axes"] as? [[String: Any]])
        XCTAssertEqual(axes.first?["values"] as? [String], ["0", "0.5"])
        XCTAssertEqual(json["select_on"] as? String, "val")
        XCTAssertEqual(json["validation_images"] as? Int, 200)
        let selected = try XCTUnwrap((json["selected"] as? [String: Any])?["dropout"] as? String, "selected: \(String(describing: json["selected"]))")
        XCTAssertTrue(["0", "0.5"].contains(selected), selected)
        let rows = try XCTUnwrap(json["rows"] as? [[String: Any]])
        XCTAssertEqual(rows.map { $0["dropout"] as? String }, ["0", "0.5"])
        XCTAssertEqual(rows.filter { $0["selected"] as? Bool == true }.map { $0["dropout"] as? String }, [selected])
        var validationMeans: [Double] = []
        for row in rows {
            XCTAssertEqual(row["complete"] as? Bool, true)
            let validation = try XCTUnwrap(row["validation_accuracy"] as? [String: Any], "\(row)")
            let test = try XCTUnwrap(row["test_accuracy"] as? [String: Any], "\(row)")
            let mean = try XCTUnwrap((validation["mean"] as? NSNumber)?.doubleValue)
            XCTAssertTrue((0...1).contains(mean))
            XCTAssertTrue((0...1).contains(try XCTUnwrap((test["mean"] as? NSNumber)?.doubleValue)))
            XCTAssertTrue(validation["std"] is NSNull, "one seed has no standard deviation")
            validationMeans.append(mean)
        }
        // Selection on validation: the chosen p has the best validation accuracy (ties to the first).
        let best = validationMeans.firstIndex(of: validationMeans.max()!)!
        XCTAssertEqual(selected, ["0", "0.5"][best])
        let runs = try XCTUnwrap(json["runs"] as? [[String: Any]])
        XCTAssertEqual(runs.map { $0["directory"] as? String }, ["0-dropout0", "1-dropout0.5"])
        XCTAssertEqual(runs.map { $0["status"] as? String }, ["ok", "ok"])

        // sweep.svg
        let svg = try String(contentsOfFile: out + "/sweep.svg", encoding: .utf8)
        XCTAssertTrue(svg.contains("<svg") && svg.contains("</svg>"), "sweep.svg is an SVG document")
        XCTAssertTrue(svg.contains("accuracy vs dropout"), "the x axis is dropout p")
        XCTAssertTrue(svg.contains("chosen dropout = \(selected)"))

        // One folder per run.
        for folder in ["0-dropout0", "1-dropout0.5"] {
            XCTAssertTrue(exists("\(out)/\(folder)/weights.safetensors"), "\(folder)/weights.safetensors")
            XCTAssertTrue(exists("\(out)/\(folder)/summary.json"), "\(folder)/summary.json")
        }

        // The table marks the chosen row; the summary line repeats it.
        let chosenLine = try XCTUnwrap(tableLine(result.stdout, p: selected), result.transcript)
        XCTAssertTrue(chosenLine.contains("← chosen (val)"), chosenLine)
        let other = selected == "0" ? "0.5" : "0"
        XCTAssertFalse(try XCTUnwrap(tableLine(result.stdout, p: other), result.transcript).contains("chosen"))
        XCTAssertTrue(result.stdout.contains("val acc"), result.transcript)
        XCTAssertTrue(result.stdout.contains("chosen: dropout=\(selected) (best validation accuracy"), result.transcript)
        XCTAssertTrue(result.stdout.contains("was not used to choose it"), result.transcript)
        XCTAssertFalse(result.stderr.contains("warning"), result.transcript)
    }

    /// `--jobs 2` runs the same trainings as `--jobs 1`, two at a time, with the same results.
    func testParallelJobsGiveIdenticalResults() throws {
        let one = scratch + "/jobs1"
        let two = scratch + "/jobs2"
        let serial = try sweep(dropout: "0,0.5", out: one, ["--jobs", "1", "--quiet"])
        XCTAssertEqual(serial.status, 0, serial.transcript)
        let parallel = try sweep(dropout: "0,0.5", out: two, ["--jobs", "2", "--quiet"])
        XCTAssertEqual(parallel.status, 0, parallel.transcript)
        for folder in ["0-dropout0", "1-dropout0.5"] {
            let a = try Data(contentsOf: URL(fileURLWithPath: "\(one)/\(folder)/weights.safetensors"))
            let b = try Data(contentsOf: URL(fileURLWithPath: "\(two)/\(folder)/weights.safetensors"))
            XCTAssertFalse(a.isEmpty)
            XCTAssertEqual(a, b, "\(folder)/weights.safetensors differs between --jobs 1 and --jobs 2")
        }
        let columns = ["dropout", "seed", "status", "train_loss", "val_acc", "test_acc", "reason"]
        let a = try readCSV(one + "/sweep.csv").map { row in columns.map { row[$0] ?? "?" } }
        let b = try readCSV(two + "/sweep.csv").map { row in columns.map { row[$0] ?? "?" } }
        XCTAssertEqual(a.count, 2)
        XCTAssertEqual(a, b, "sweep.csv differs (seconds ignored)")
    }

    func testSeedsShowSpread() throws {
        let out = scratch + "/seeds"
        let result = try sweep(dropout: "0,0.5", out: out, ["--seeds", "2", "--limit", "320", "--jobs", "2"])
        XCTAssertEqual(result.status, 0, result.transcript)
        for folder in ["0-dropout0-seed0", "1-dropout0-seed1", "2-dropout0.5-seed0", "3-dropout0.5-seed1"] {
            XCTAssertTrue(exists("\(out)/\(folder)/weights.safetensors"), folder)
        }
        XCTAssertFalse(exists(out + "/0-dropout0"), "with several seeds the folders name the seed")
        let csv = try readCSV(out + "/sweep.csv")
        XCTAssertEqual(csv.count, 4)
        XCTAssertEqual(csv.map { "\($0["dropout"]!)/\($0["seed"]!)" }, ["0/0", "0/1", "0.5/0", "0.5/1"])
        let json = try readJSON(out + "/sweep.json")
        XCTAssertEqual((json["seeds"] as? [Any])?.ints, [0, 1])
        let rows = try XCTUnwrap(json["rows"] as? [[String: Any]])
        XCTAssertEqual(rows.count, 2)
        for row in rows {
            let validation = try XCTUnwrap(row["validation_accuracy"] as? [String: Any])
            XCTAssertNotNil(validation["std"] as? NSNumber, "two seeds give a standard deviation: \(row)")
        }
        XCTAssertEqual((json["runs"] as? [Any])?.count, 4)
        let line0 = try XCTUnwrap(tableLine(result.stdout, p: "0"), result.transcript)
        XCTAssertTrue(line0.contains("±"), line0)
    }

    // MARK: - Selecting on the test set

    func testSelectOnTestWarns() throws {
        let out = scratch + "/test"
        let result = try sweep(dropout: "0.2,0.3", out: out, ["--select-on", "test", "--quiet", "--limit", "320"])
        XCTAssertEqual(result.status, 0, result.transcript)
        XCTAssertTrue(result.stderr.contains("warning: selecting on the test set"), result.transcript)
        XCTAssertFalse(result.stdout.contains("warning"), "the warning goes to standard error")
        let json = try readJSON(out + "/sweep.json")
        XCTAssertEqual(json["select_on"] as? String, "test")
        let selected = try XCTUnwrap((json["selected"] as? [String: Any])?["dropout"] as? String)
        XCTAssertTrue(["0.2", "0.3"].contains(selected), selected)
        XCTAssertTrue(result.stdout.contains("← chosen (test)"), result.transcript)
        XCTAssertTrue(result.stdout.contains("was used to choose it"), result.transcript)
    }

    func testNoValidationNeedsSelectOnTest() throws {
        let refused = try sweep(dropout: "0,0.5", out: scratch + "/val0", ["--val", "0"])
        XCTAssertEqual(refused.status, 2, refused.transcript)
        XCTAssertTrue(refused.stderr.contains("--val 0"), refused.transcript)
        XCTAssertFalse(exists(scratch + "/val0"), "a usage error creates no output directory")

        let out = scratch + "/val0test"
        let result = try sweep(dropout: "0.2", out: out, ["--val", "0", "--select-on", "test"])
        XCTAssertEqual(result.status, 0, result.transcript)
        XCTAssertFalse(result.stdout.contains("val acc"), "no validation column without validation images\n\(result.stdout)")
        let csv = try readCSV(out + "/sweep.csv")
        XCTAssertEqual(csv.count, 1)
        XCTAssertEqual(csv.first?["val_acc"], "")
        XCTAssertNotNil(Double(csv.first?["test_acc"] ?? ""))
        let json = try readJSON(out + "/sweep.json")
        XCTAssertEqual(json["validation_images"] as? Int, 0)
        XCTAssertEqual(json["select_on"] as? String, "test")
    }

    /// `--json` prints sweep.json on standard output, so standard output must be that JSON
    /// alone (as `cnnc train --json` does), with the table and log lines on standard error.
    func testJSONFlagPrintsOnlyJSON() throws {
        let out = scratch + "/json"
        let result = try sweep(dropout: "0.1", out: out, ["--json", "--quiet"])
        XCTAssertEqual(result.status, 0, result.transcript)
        let fileText = try String(contentsOfFile: out + "/sweep.json", encoding: .utf8)
        XCTAssertTrue(result.stdout.hasSuffix(fileText), "stdout ends with sweep.json\n\(result.transcript)")
        XCTAssertNoThrow(try CLI.jsonObject(result.stdout), "stdout is not JSON alone:\n\(result.stdout)")
    }

    // MARK: - Refusals

    func testBadRangesExitTwo() throws {
        let data = scratch  // refused before any data is read
        for dropout in ["0:1:0.1", "0.5:0.1:0.1", "x", "0:0.5:0", "0.1,1e-1", "0.1,0.1", "", "100000000139688:100000000139688:0.00000000000001"] {
            let out = scratch + "/bad"
            let result = try CLI.run(["sweep", CLI.example("lenet.yaml"), "--dropout", dropout, "--data", data,
                                      "--no-download", "--out", out])
            XCTAssertEqual(result.status, 2, "--dropout '\(dropout)'\n\(result.transcript)")
            XCTAssertTrue(result.stderr.contains("--dropout"), "--dropout '\(dropout)'\n\(result.transcript)")
            XCTAssertFalse(exists(out), "--dropout '\(dropout)' created the output directory")
        }
    }

    func testOtherUsageErrorsExitTwo() throws {
        let data = scratch  // refused before any data is read
        for extra in [["--select-on", "train"], ["--seeds", "0"], ["--jobs", "0"], ["--val", "60000"]] {
            let result = try CLI.run(["sweep", CLI.example("lenet.yaml"), "--dropout", "0,0.5", "--data", data,
                                      "--no-download", "--out", scratch + "/usage"] + extra)
            XCTAssertEqual(result.status, 2, "\(extra)\n\(result.transcript)")
        }
    }

    func testSpecWithoutDropoutExitsOne() throws {
        let spec = try CLI.write("""
            name: nodrop
            input: [1, 28, 28]
            layers:
              - Conv2D: {out_channels: 2, kernel_size: 4, stride: 4}
              - ReLU
              - Linear: {out_features: 10}

            """, named: "nodrop.yaml", in: scratch)
        let out = scratch + "/nodrop"
        // Refused before any data is read, so no MNIST is needed.
        let result = try CLI.run(["sweep", spec, "--dropout", "0,0.5", "--data", scratch + "/nodata", "--no-download",
                                  "--out", out])
        XCTAssertEqual(result.status, 1, result.transcript)
        XCTAssertTrue(result.stderr.contains("no Dropout layer"), result.transcript)
        XCTAssertTrue(result.stderr.contains("2 identical models"), result.transcript)
        XCTAssertFalse(exists(out), "nothing is written for a spec that cannot be swept")
    }

    // MARK: - Failing runs

    /// A diverging run is recorded as failed and the sweep goes on to the next value.
    func testDivergingRunsAreRecordedAndTheSweepContinues() throws {
        let out = scratch + "/diverge"
        let result = try sweep(dropout: "0,0.5", out: out, ["--lr", "1e6", "--optimizer", "sgd"])
        // Every run failed, so nothing was chosen and the sweep failed, as `train` does.
        XCTAssertEqual(result.status, 1, result.transcript)

        let csv = try readCSV(out + "/sweep.csv")
        XCTAssertEqual(csv.map { $0["dropout"] }, ["0", "0.5"], "both values ran")
        for row in csv {
            XCTAssertEqual(row["status"], "failed", "\(row)")
            XCTAssertTrue(row["reason"]?.contains("diverged") ?? false, "\(row)")
            XCTAssertEqual(row["test_acc"], "")
        }
        let json = try readJSON(out + "/sweep.json")
        XCTAssertTrue(json["selected"] is NSNull, "nothing to choose from: \(String(describing: json["selected"]))")
        let runs = try XCTUnwrap(json["runs"] as? [[String: Any]])
        XCTAssertEqual(runs.count, 2)
        for run in runs {
            XCTAssertEqual(run["status"] as? String, "failed")
            XCTAssertTrue((run["reason"] as? String)?.contains("diverged") ?? false, "\(run)")
        }
        let rows = try XCTUnwrap(json["rows"] as? [[String: Any]])
        XCTAssertEqual(rows.map { $0["complete"] as? Bool }, [false, false])

        // Each failure is logged with its reason, and the table marks both rows.
        XCTAssertTrue(result.stdout.contains("dropout=0, seed 0: failed: diverged"), result.transcript)
        XCTAssertTrue(result.stdout.contains("dropout=0.5, seed 0: failed: diverged"), result.transcript)
        for p in ["0", "0.5"] {
            let line = try XCTUnwrap(tableLine(result.stdout, p: p), result.transcript)
            XCTAssertTrue(line.contains("failed"), line)
            XCTAssertFalse(line.contains("chosen"), line)
        }
        XCTAssertFalse(result.stdout.contains("chosen: dropout"), result.transcript)
        XCTAssertTrue(result.stdout.contains("nothing chosen"), result.transcript)
    }

    // MARK: - Ctrl-C

    /// Ctrl-C stops the sweep: finished runs are on disk and the table says which did not finish.
    func testInterruptKeepsFinishedRunsAndMarksTheRest() throws {
        let out = scratch + "/interrupted"
        let data = try CLI.mnistDirectory()
        let result = try CLI.run(["sweep", CLI.example("lenet.yaml"), "--dropout", "0,0.2,0.4,0.6,0.8", "--limit", "30000",
                                  "--val", "1000", "--threads", "1", "--data", data, "--no-download", "--out", out],
                                 interruptAfter: 6)
        XCTAssertEqual(result.status, 130, result.transcript)
        XCTAssertTrue(result.stdout.contains("not run"), "unfinished values are marked\n\(result.transcript)")
        XCTAssertTrue(result.stdout.contains("interrupted"), result.transcript)
        let csv = try String(contentsOfFile: out + "/sweep.csv", encoding: .utf8)
        XCTAssertTrue(csv.contains(",not run,"), csv)
        for line in csv.split(separator: "\n").dropFirst() where line.contains(",ok,") {
            let folder = String(line.split(separator: ",").last!)
            XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/\(folder)/weights.safetensors"), folder)
        }
    }
}
