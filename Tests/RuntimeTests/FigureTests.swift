import CZlib
import Foundation
import XCTest
@testable import Runtime
import Graph
import Spec

/// `pdfinfo` (poppler-utils, installed by .ci/run) on a PDF; fails the test when it is missing.
func pdfinfo(_ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) throws -> String {
    let directory = try makeTempDirectory("cnnc-pdf")
    let path = directory + "/figure.pdf"
    try writeBytes(bytes, to: path)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["pdfinfo", path]
    let pipe = Pipe(), errors = Pipe()
    process.standardOutput = pipe
    process.standardError = errors
    try process.run()
    process.waitUntilExit()
    let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    XCTAssertEqual(process.terminationStatus, 0, "pdfinfo (poppler-utils) must be installed and accept the PDF: \(stderr)",
                   file: file, line: line)
    XCTAssertEqual(stderr, "", "pdfinfo printed no warnings", file: file, line: line)
    return output
}

/// The PNG's size and its inflated scanlines, checking signature, chunk CRCs and the zlib stream.
func decodePNG(_ bytes: [UInt8]) throws -> (width: Int, height: Int, colorType: UInt8, raw: [UInt8]) {
    XCTAssertEqual(Array(bytes.prefix(8)), [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
    var offset = 8
    var width = 0, height = 0, colorType: UInt8 = 0
    var idat: [UInt8] = []
    func be32(_ i: Int) -> Int { Int(bytes[i]) << 24 | Int(bytes[i + 1]) << 16 | Int(bytes[i + 2]) << 8 | Int(bytes[i + 3]) }
    while offset < bytes.count {
        let length = be32(offset)
        let type = String(decoding: bytes[(offset + 4)..<(offset + 8)], as: UTF8.self)
        let body = Array(bytes[(offset + 4)..<(offset + 8 + length)])
        let crc = body.withUnsafeBufferPointer { crc32(0, $0.baseAddress, uInt($0.count)) }
        XCTAssertEqual(Int(crc), be32(offset + 8 + length), "CRC of \(type)")
        let data = Array(body.dropFirst(4))
        if type == "IHDR" {
            width = Int(data[0]) << 24 | Int(data[1]) << 16 | Int(data[2]) << 8 | Int(data[3])
            height = Int(data[4]) << 24 | Int(data[5]) << 16 | Int(data[6]) << 8 | Int(data[7])
            colorType = data[9]
        } else if type == "IDAT" {
            idat += data
        }
        offset += 12 + length
    }
    let channels = colorType == 2 ? 3 : 1
    var raw = [UInt8](repeating: 0, count: (width * channels + 1) * height)
    var size = uLong(raw.count)
    XCTAssertEqual(uncompress(&raw, &size, idat, uLong(idat.count)), Z_OK)
    XCTAssertEqual(Int(size), raw.count)
    return (width, height, colorType, raw)
}

final class FigureTests: XCTestCase {
    /// A sweep-shaped chart: the collapse at p = 0.9 far below the rest.
    func sweepChart(errors: Bool) -> LineChart {
        let ps = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
        let test = [0.981, 0.983, 0.984, 0.982, 0.985, 0.983, 0.980, 0.976, 0.962, 0.41]
        let val = test.map { $0 - 0.002 }
        var chart = LineChart(title: "mnist-cnn: accuracy vs dropout p (1 epoch each)", subtitle: "5,000 held out for validation (--val)",
                              xLabel: "dropout p", yLabel: "accuracy", series: [
                                  PlotSeries(name: "validation accuracy", color: RGB.palette[1], points: Array(zip(ps, val)),
                                             errors: errors ? ps.map { _ in 0.001 } : []),
                                  PlotSeries(name: "test accuracy", color: RGB.palette[2], points: Array(zip(ps, test)),
                                             errors: errors ? ps.map { _ in 0.0015 } : []),
                              ])
        chart.xTicks = ps
        chart.markers = [PlotMarker(x: 0.4, label: "chosen p = 0.4 (val)")]
        return chart
    }

    func testCollapseBreaksTheAxisSoTheClusterKeepsItsHeight() {
        let chart = sweepChart(errors: false)
        let ys = chart.series.flatMap(\.points).map(\.y)
        let split = chart.brokenRange(ys)
        XCTAssertNotNil(split, "0.41 against 0.96…0.985 breaks the axis")
        XCTAssertEqual(split?.lower.0, 0.408)
        XCTAssertEqual(split?.lower.1, 0.41)
        XCTAssertEqual(split?.main.0 ?? 0, 0.96, accuracy: 1e-12)
        XCTAssertEqual(split?.main.1 ?? 0, 0.985, accuracy: 1e-12)
        // Without the collapse the axis is continuous.
        XCTAssertNil(chart.brokenRange(Array(ys.filter { $0 > 0.5 })))
        // The main panel's ticks resolve differences of 0.005: ticks are at most 0.01 apart.
        let svg = chart.figure().svg()
        XCTAssertTrue(svg.contains(">0.975<") || svg.contains(">0.98<"), "fine ticks in the main panel")
    }

    func testMarkerLabelCoversNoData() {
        let chart = sweepChart(errors: true)
        let figure = chart.figure()
        // Find the label and every data polyline; the label's box must not touch them.
        var labelBox: (x: Double, y: Double, w: Double, h: Double)?
        var segments: [(Point, Point)] = []
        for mark in figure.marks {
            switch mark {
            case let .text(string, at, size, anchor, bold, _, _) where string.hasPrefix("chosen p"):
                labelBox = textBox(string, at: at, size: size, anchor: anchor, bold: bold)
            case let .line(points, color, _, _) where color == RGB.palette[1] || color == RGB.palette[2]:
                segments += zip(points, points.dropFirst()).map { ($0, $1) }
            default: break
            }
        }
        let box = try! XCTUnwrap(labelBox)
        XCTAssertFalse(segments.isEmpty)
        for (a, b) in segments {
            XCTAssertFalse(segmentHitsBox(a, b, box, margin: 0), "label \(box) overlaps segment \(a)–\(b)")
        }
    }

    func testPDFIsValidAndHasTheFigureSize() throws {
        let info = try pdfinfo(sweepChart(errors: true).figure().pdf())
        XCTAssertTrue(info.contains("Pages:           1"), info)
        XCTAssertTrue(info.contains("Page size:       560 x 380 pts"), info)
    }

    func testHeatmapAndBarChartRenderEverywhere() throws {
        var heatmap = Heatmap(title: "confusion", rowLabels: ["0", "1", "2"], columnLabels: ["0", "1", "2"], rowTitle: "true",
                              columnTitle: "predicted", values: [[50, 1, 0], [2, 40, 3], [0, 0, 47]])
        heatmap.diagonalColor = RGB.palette[2]
        let figure = heatmap.figure()
        let svg = figure.svg()
        XCTAssertTrue(svg.contains(">40</text>") && svg.contains(">predicted</text>"))
        _ = try pdfinfo(figure.pdf())
        let bars = BarChart(title: "ablation", categories: ["full", "no BN", "no dropout"], yLabel: "test accuracy",
                            series: [BarChart.Series(name: "test", color: RGB.palette[0], values: [0.99, 0.985, 0.987],
                                                     errors: [0.001, 0.002, 0.001])])
        let barFigure = bars.figure()
        XCTAssertTrue(barFigure.svg().contains("axis starts at"), "a zoomed value axis says where it starts")
        _ = try pdfinfo(barFigure.pdf())
    }

    func testPNGEncodesPixelsExactly() throws {
        // 2×2 gray image drawn 1:1 into a 2×2 figure: the PNG's scanlines hold exactly those values.
        let image = GrayImage(width: 2, height: 2, pixels: [0, 255, 128, 7])
        let figure = Figure(width: 2, height: 2, marks: [.image(image, x: 0, y: 0, width: 2, height: 2)])
        let png = try decodePNG(figure.png())
        XCTAssertEqual(png.width, 2)
        XCTAssertEqual(png.height, 2)
        XCTAssertEqual(png.colorType, 2)
        XCTAssertEqual(png.raw, [0, 0, 0, 0, 255, 255, 255, 0, 128, 128, 128, 7, 7, 7])
        let gray = try decodePNG(encodePNG(width: 2, height: 2, channels: 1, pixels: [1, 2, 3, 4]))
        XCTAssertEqual(gray.raw, [0, 1, 2, 0, 3, 4])
    }

    func testLogAxisTicksArePowersOfTen() {
        var chart = LineChart(title: "lr", xLabel: "learning rate", yLabel: "accuracy",
                              series: [PlotSeries(name: "test", color: RGB.palette[0],
                                                  points: [(1e-4, 0.9), (1e-3, 0.98), (1e-2, 0.97), (1e-1, 0.5)])])
        chart.xScale = .log
        let svg = chart.figure().svg()
        for label in [">1e-4<", ">1e-3<", ">0.01<", ">0.1<"] { XCTAssertTrue(svg.contains(label), label) }
    }
}
