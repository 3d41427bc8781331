import CZlib
import Foundation
import Graph
import Spec

// One plot description, three renderers.
//
// Every chart cnnc draws (curves, sweep, confusion heatmap, bar charts, the mistakes grid) is built
// as a `Figure`: a list of marks in points, origin top-left, y downwards. `svg()`, `pdf()` and
// `png()` render the same marks. Why a small hand-written PDF writer rather than Cairo: the 14
// standard PDF fonts need no embedding, so the PDF stays a few kilobytes of readable vector
// operators with selectable text, the SVG keeps real `<text>` elements (tests and search can read
// the labels), and no system library is added to Runtime. PNG is only needed for raster content
// (the mistakes grid), so its rasterizer is small: axis-aligned boxes, 1-pixel-wide strokes, discs,
// nearest-neighbour images and a 5×7 bitmap font.

/// An sRGB colour.
public struct RGB: Hashable, Sendable {
    public var r: UInt8, g: UInt8, b: UInt8

    public init(_ r: UInt8, _ g: UInt8, _ b: UInt8) {
        self.r = r
        self.g = g
        self.b = b
    }

    /// `0xRRGGBB`.
    public init(hex: UInt32) {
        self.init(UInt8(hex >> 16 & 0xff), UInt8(hex >> 8 & 0xff), UInt8(hex & 0xff))
    }

    public static let black = RGB(hex: 0x000000)
    public static let white = RGB(hex: 0xffffff)
    public static let text = RGB(hex: 0x222222)
    public static let muted = RGB(hex: 0x666666)
    public static let frame = RGB(hex: 0x333333)
    public static let grid = RGB(hex: 0xe8e8e8)
    public static let highlight = RGB(hex: 0xd62728)
    /// Series colours (matplotlib's tab10), in order of use.
    public static let palette: [RGB] = [0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd, 0x8c564b, 0xe377c2,
                                        0x7f7f7f, 0xbcbd22, 0x17becf].map { RGB(hex: $0) }

    var svg: String { String(format: "#%02x%02x%02x", r, g, b) }
    var pdf: String { "\(pdfNumber(Double(r) / 255)) \(pdfNumber(Double(g) / 255)) \(pdfNumber(Double(b) / 255))" }

    /// `t` of the way from `self` to `other`.
    public func mixed(with other: RGB, _ t: Double) -> RGB {
        func mix(_ a: UInt8, _ b: UInt8) -> UInt8 { UInt8((Double(a) + (Double(b) - Double(a)) * t).rounded()) }
        return RGB(mix(r, other.r), mix(g, other.g), mix(b, other.b))
    }

    /// Relative luminance in [0, 1] (for choosing black or white text on a fill).
    public var luminance: Double { (0.2126 * Double(r) + 0.7152 * Double(g) + 0.0722 * Double(b)) / 255 }
}

public enum TextAnchor: Sendable { case start, middle, end }

/// One drawing primitive of a figure.
public enum Mark: Sendable {
    /// A polyline; `dash` is the on/off pattern in points.
    case line([Point], color: RGB, width: Double, dash: [Double])
    /// A rectangle, filled and/or stroked.
    case rect(x: Double, y: Double, width: Double, height: Double, fill: RGB?, stroke: RGB?)
    /// A filled disc.
    case disc(center: Point, radius: Double, color: RGB)
    /// One line of text; `y` is the baseline; `rotated` turns it 90° anticlockwise about (x, y).
    case text(String, at: Point, size: Double, anchor: TextAnchor, bold: Bool, color: RGB, rotated: Bool)
    /// An 8-bit grayscale image (row-major, 0 black … 255 white) scaled into the box without smoothing.
    case image(GrayImage, x: Double, y: Double, width: Double, height: Double)
}

public struct Point: Hashable, Sendable {
    public var x: Double, y: Double
    public init(_ x: Double, _ y: Double) {
        self.x = x
        self.y = y
    }
}

public struct GrayImage: Hashable, Sendable {
    public var width: Int, height: Int
    public var pixels: [UInt8]
    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height, "GrayImage: \(pixels.count) pixels for \(width)×\(height)")
        self.width = width
        self.height = height
        self.pixels = pixels
    }
}

/// A drawing: a size in points and its marks in painting order.
public struct Figure: Sendable {
    public var width: Double
    public var height: Double
    public var marks: [Mark] = []

    public init(width: Double, height: Double, marks: [Mark] = []) {
        self.width = width
        self.height = height
        self.marks = marks
    }

    public mutating func text(_ string: String, _ x: Double, _ y: Double, size: Double, anchor: TextAnchor = .start,
                              bold: Bool = false, color: RGB = .text, rotated: Bool = false) {
        marks.append(.text(string, at: Point(x, y), size: size, anchor: anchor, bold: bold, color: color, rotated: rotated))
    }

    public mutating func line(_ points: [Point], color: RGB, width: Double = 1, dash: [Double] = []) {
        marks.append(.line(points, color: color, width: width, dash: dash))
    }

    public mutating func rect(_ x: Double, _ y: Double, _ width: Double, _ height: Double, fill: RGB? = nil, stroke: RGB? = nil) {
        marks.append(.rect(x: x, y: y, width: width, height: height, fill: fill, stroke: stroke))
    }

    /// Places `other` with its top-left corner at (dx, dy).
    public mutating func place(_ other: Figure, dx: Double, dy: Double) {
        func p(_ point: Point) -> Point { Point(point.x + dx, point.y + dy) }
        for mark in other.marks {
            switch mark {
            case let .line(points, color, width, dash):
                marks.append(.line(points.map(p), color: color, width: width, dash: dash))
            case let .rect(x, y, w, h, fill, stroke):
                marks.append(.rect(x: x + dx, y: y + dy, width: w, height: h, fill: fill, stroke: stroke))
            case let .disc(center, radius, color):
                marks.append(.disc(center: p(center), radius: radius, color: color))
            case let .text(string, at, size, anchor, bold, color, rotated):
                marks.append(.text(string, at: p(at), size: size, anchor: anchor, bold: bold, color: color, rotated: rotated))
            case let .image(image, x, y, w, h):
                marks.append(.image(image, x: x + dx, y: y + dy, width: w, height: h))
            }
        }
    }

    /// Figures side by side (tops aligned).
    public static func row(_ figures: [Figure]) -> Figure {
        var out = Figure(width: figures.reduce(0) { $0 + $1.width }, height: figures.map(\.height).max() ?? 0)
        var x = 0.0
        for figure in figures {
            out.place(figure, dx: x, dy: 0)
            x += figure.width
        }
        return out
    }
}

// MARK: - Text metrics

/// Advance widths of Helvetica and Helvetica-Bold (Adobe's AFM files, 1/1000 em) for ASCII 32…126;
/// the PDF renderer uses these fonts, the SVG asks for Helvetica/Arial (same metrics), so text can
/// be centred and right-aligned identically everywhere and labels can be placed where they cover nothing.
private let helveticaWidths: [UInt16] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556, 556, 556, 556, 556,
    556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833,
    722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, 333, 556, 556, 500, 556,
    556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334,
    260, 334, 584,
]
private let helveticaBoldWidths: [UInt16] = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556, 556, 556, 556, 556,
    556, 556, 556, 333, 333, 584, 584, 584, 611, 975, 722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833,
    722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584, 556, 333, 556, 611, 556, 611,
    556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611, 611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389,
    280, 389, 584,
]

/// Width of `string` in points at `size` (characters outside ASCII count as a digit's width).
public func textWidth(_ string: String, size: Double, bold: Bool = false) -> Double {
    let table = bold ? helveticaBoldWidths : helveticaWidths
    var units = 0
    for scalar in string.unicodeScalars {
        let v = Int(scalar.value)
        units += (32...126).contains(v) ? Int(table[v - 32]) : 556
    }
    return Double(units) * size / 1000
}

/// The box a text mark covers: (x, top, width, height).
func textBox(_ string: String, at: Point, size: Double, anchor: TextAnchor, bold: Bool) -> (x: Double, y: Double, w: Double, h: Double) {
    let w = textWidth(string, size: size, bold: bold)
    let x: Double
    switch anchor {
    case .start: x = at.x
    case .middle: x = at.x - w / 2
    case .end: x = at.x - w
    }
    return (x, at.y - size * 0.75, w, size * 0.95)
}

// MARK: - SVG

extension Figure {
    public func svg() -> String {
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(svgNumber(width))\" height=\"\(svgNumber(height))\" "
            + "viewBox=\"0 0 \(svgNumber(width)) \(svgNumber(height))\">\n"
        out += "<rect x=\"0\" y=\"0\" width=\"\(svgNumber(width))\" height=\"\(svgNumber(height))\" fill=\"white\"/>\n"
        for mark in marks {
            switch mark {
            case let .line(points, color, width, dash):
                let path = points.map { "\(svgNumber($0.x)),\(svgNumber($0.y))" }.joined(separator: " ")
                let dashes = dash.isEmpty ? "" : " stroke-dasharray=\"\(dash.map(svgNumber).joined(separator: " "))\""
                out += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(color.svg)\" stroke-width=\"\(svgNumber(width))\"\(dashes)/>\n"
            case let .rect(x, y, w, h, fill, stroke):
                out += "<rect x=\"\(svgNumber(x))\" y=\"\(svgNumber(y))\" width=\"\(svgNumber(w))\" height=\"\(svgNumber(h))\" "
                    + "fill=\"\(fill?.svg ?? "none")\"" + (stroke.map { " stroke=\"\($0.svg)\"" } ?? "") + "/>\n"
            case let .disc(center, radius, color):
                out += "<circle cx=\"\(svgNumber(center.x))\" cy=\"\(svgNumber(center.y))\" r=\"\(svgNumber(radius))\" fill=\"\(color.svg)\"/>\n"
            case let .text(string, at, size, anchor, bold, color, rotated):
                let anchorName = anchor == .start ? "start" : anchor == .middle ? "middle" : "end"
                let transform = rotated ? " transform=\"rotate(-90 \(svgNumber(at.x)) \(svgNumber(at.y)))\"" : ""
                out += "<text x=\"\(svgNumber(at.x))\" y=\"\(svgNumber(at.y))\" font-family=\"Helvetica, Arial, sans-serif\" "
                    + "font-size=\"\(svgNumber(size))\" text-anchor=\"\(anchorName)\" fill=\"\(color.svg)\""
                    + (bold ? " font-weight=\"bold\"" : "") + transform + ">\(escapeXML(string))</text>\n"
            case let .image(image, x, y, w, h):
                let png = encodePNG(width: image.width, height: image.height, channels: 1, pixels: image.pixels)
                out += "<image x=\"\(svgNumber(x))\" y=\"\(svgNumber(y))\" width=\"\(svgNumber(w))\" height=\"\(svgNumber(h))\" "
                    + "style=\"image-rendering:pixelated\" href=\"data:image/png;base64,\(Data(png).base64EncodedString())\"/>\n"
            }
        }
        return out + "</svg>\n"
    }
}

private func svgNumber(_ value: Double) -> String { pdfNumber(value) }

func escapeXML(_ text: String) -> String {
    var out = ""
    for character in text {
        switch character {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        default: out.append(character)
        }
    }
    return out
}

// MARK: - PDF

/// Shortest decimal with at most 2 fraction digits ("12", "3.5", "-0.25").
private func pdfNumber(_ value: Double) -> String {
    var text = formatFixed(value, digits: 2)
    if text.contains(".") {
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
    }
    return text == "-0" ? "0" : text
}

/// A PDF string literal in WinAnsiEncoding; characters it lacks become '?', and a few common
/// symbols are mapped to their WinAnsi codes.
private func pdfString(_ string: String) -> [UInt8] {
    var out: [UInt8] = Array("(".utf8)
    for scalar in string.unicodeScalars {
        let v = scalar.value
        let byte: UInt8
        switch v {
        case 0x28, 0x29, 0x5c: out.append(0x5c); byte = UInt8(v)
        case 32...126: byte = UInt8(v)
        case 0xa0...0xff: byte = UInt8(v)  // Latin-1 supplement: same codes in WinAnsi (±, ×, ·, …)
        case 0x2013: byte = 0x96  // en dash
        case 0x2014: byte = 0x97  // em dash
        case 0x2022: byte = 0x95  // bullet
        case 0x2026: byte = 0x85  // ellipsis
        case 0x2212: byte = 0x2d  // minus sign
        case 0x2192: out.append(contentsOf: Array("-".utf8)); byte = 0x3e  // → as ->
        default: byte = 0x3f
        }
        out.append(byte)
    }
    out.append(0x29)
    return out
}

extension Figure {
    /// A one-page PDF 1.4 document: Helvetica and Helvetica-Bold (standard fonts, not embedded),
    /// vector paths, images as uncompressed DeviceGray XObjects; deterministic (no dates).
    public func pdf() -> [UInt8] {
        var content: [UInt8] = []
        func emit(_ s: String) { content.append(contentsOf: Array(s.utf8)) }
        func y(_ v: Double) -> Double { height - v }
        var images: [GrayImage] = []
        emit("1 J 1 j\n")
        for mark in marks {
            switch mark {
            case let .line(points, color, width, dash):
                guard let first = points.first else { continue }
                emit("\(color.pdf) RG \(pdfNumber(width)) w [\(dash.map(pdfNumber).joined(separator: " "))] 0 d ")
                emit("\(pdfNumber(first.x)) \(pdfNumber(y(first.y))) m")
                for p in points.dropFirst() { emit(" \(pdfNumber(p.x)) \(pdfNumber(y(p.y))) l") }
                emit(points.count == 1 ? " h S\n" : " S\n")
            case let .rect(x, top, w, h, fill, stroke):
                let box = "\(pdfNumber(x)) \(pdfNumber(y(top + h))) \(pdfNumber(w)) \(pdfNumber(h)) re"
                if let fill { emit("\(fill.pdf) rg \(box) f\n") }
                if let stroke { emit("\(stroke.pdf) RG 1 w [] 0 d \(box) S\n") }
            case let .disc(center, r, color):
                // Four Bézier quarter arcs.
                let k = 0.5523 * r
                let cx = center.x, cy = y(center.y)
                emit("\(color.pdf) rg \(pdfNumber(cx + r)) \(pdfNumber(cy)) m ")
                emit("\(pdfNumber(cx + r)) \(pdfNumber(cy + k)) \(pdfNumber(cx + k)) \(pdfNumber(cy + r)) \(pdfNumber(cx)) \(pdfNumber(cy + r)) c ")
                emit("\(pdfNumber(cx - k)) \(pdfNumber(cy + r)) \(pdfNumber(cx - r)) \(pdfNumber(cy + k)) \(pdfNumber(cx - r)) \(pdfNumber(cy)) c ")
                emit("\(pdfNumber(cx - r)) \(pdfNumber(cy - k)) \(pdfNumber(cx - k)) \(pdfNumber(cy - r)) \(pdfNumber(cx)) \(pdfNumber(cy - r)) c ")
                emit("\(pdfNumber(cx + k)) \(pdfNumber(cy - r)) \(pdfNumber(cx + r)) \(pdfNumber(cy - k)) \(pdfNumber(cx + r)) \(pdfNumber(cy)) c f\n")
            case let .text(string, at, size, anchor, bold, color, rotated):
                let w = textWidth(string, size: size, bold: bold)
                let shift = anchor == .start ? 0 : anchor == .middle ? -w / 2 : -w
                let matrix = rotated
                    ? "0 1 -1 0 \(pdfNumber(at.x)) \(pdfNumber(y(at.y) + shift))"
                    : "1 0 0 1 \(pdfNumber(at.x + shift)) \(pdfNumber(y(at.y)))"
                emit("BT \(color.pdf) rg /\(bold ? "F2" : "F1") \(pdfNumber(size)) Tf \(matrix) Tm ")
                content.append(contentsOf: pdfString(string))
                emit(" Tj ET\n")
            case let .image(image, x, top, w, h):
                images.append(image)
                emit("q \(pdfNumber(w)) 0 0 \(pdfNumber(h)) \(pdfNumber(x)) \(pdfNumber(y(top + h))) cm /Im\(images.count) Do Q\n")
            }
        }

        // Objects: 1 catalog, 2 pages, 3 page, 4 content, 5 F1, 6 F2, 7… images.
        var objects: [[UInt8]] = []
        let imageRefs = images.indices.map { "/Im\($0 + 1) \($0 + 7) 0 R" }.joined(separator: " ")
        objects.append(Array("<< /Type /Catalog /Pages 2 0 R >>".utf8))
        objects.append(Array("<< /Type /Pages /Kids [3 0 R] /Count 1 >>".utf8))
        objects.append(Array(("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 \(pdfNumber(width)) \(pdfNumber(height))] "
            + "/Resources << /Font << /F1 5 0 R /F2 6 0 R >> /XObject << \(imageRefs) >> >> /Contents 4 0 R >>").utf8))
        objects.append(Array("<< /Length \(content.count) >>\nstream\n".utf8) + content + Array("\nendstream".utf8))
        for font in ["Helvetica", "Helvetica-Bold"] {
            objects.append(Array("<< /Type /Font /Subtype /Type1 /BaseFont /\(font) /Encoding /WinAnsiEncoding >>".utf8))
        }
        for image in images {
            objects.append(Array(("<< /Type /XObject /Subtype /Image /Width \(image.width) /Height \(image.height) "
                + "/ColorSpace /DeviceGray /BitsPerComponent 8 /Length \(image.pixels.count) >>\nstream\n").utf8)
                + image.pixels + Array("\nendstream".utf8))
        }
        var out: [UInt8] = Array("%PDF-1.4\n%\u{e2}\u{e3}\u{cf}\u{d3}\n".utf8)
        var offsets: [Int] = []
        for (i, object) in objects.enumerated() {
            offsets.append(out.count)
            out += Array("\(i + 1) 0 obj\n".utf8) + object + Array("\nendobj\n".utf8)
        }
        let xref = out.count
        var table = "xref\n0 \(objects.count + 1)\n0000000000 65535 f \n"
        for offset in offsets { table += String(format: "%010d 00000 n \n", offset) }
        table += "trailer\n<< /Size \(objects.count + 1) /Root 1 0 R >>\nstartxref\n\(xref)\n%%EOF\n"
        return out + Array(table.utf8)
    }
}

// MARK: - PNG

extension Figure {
    /// An RGB PNG at `scale` pixels per point. Lines are drawn 1 pixel × scale wide without
    /// anti-aliasing and text with a 5×7 bitmap font; meant for raster content such as image grids.
    public func png(scale: Int = 1) -> [UInt8] {
        let s = Double(scale)
        let w = Int((width * s).rounded(.up)), h = Int((height * s).rounded(.up))
        var canvas = [UInt8](repeating: 255, count: w * h * 3)
        func put(_ x: Int, _ y: Int, _ c: RGB) {
            guard x >= 0, y >= 0, x < w, y < h else { return }
            let i = (y * w + x) * 3
            canvas[i] = c.r
            canvas[i + 1] = c.g
            canvas[i + 2] = c.b
        }
        func fill(_ x0: Double, _ y0: Double, _ x1: Double, _ y1: Double, _ c: RGB) {
            let a = max(0, Int((x0 * s).rounded())), b = min(w, Int((x1 * s).rounded()))
            let top = max(0, Int((y0 * s).rounded())), bottom = min(h, Int((y1 * s).rounded()))
            guard a < b, top < bottom else { return }
            for y in top..<bottom { for x in a..<b { put(x, y, c) } }
        }
        for mark in marks {
            switch mark {
            case let .line(points, color, width, _):
                let brush = max(1, Int((width * s).rounded()))
                for (p, q) in zip(points, points.dropFirst()) {
                    let n = max(1, Int((max(abs(q.x - p.x), abs(q.y - p.y)) * s).rounded(.up)))
                    for k in 0...n {
                        let t = Double(k) / Double(n)
                        let x = Int(((p.x + (q.x - p.x) * t) * s).rounded(.down)) - brush / 2
                        let y = Int(((p.y + (q.y - p.y) * t) * s).rounded(.down)) - brush / 2
                        for dy in 0..<brush { for dx in 0..<brush { put(x + dx, y + dy, color) } }
                    }
                }
            case let .rect(x, y, rw, rh, fillColor, stroke):
                if let fillColor { fill(x, y, x + rw, y + rh, fillColor) }
                if let stroke {
                    let t = 1 / s
                    fill(x, y, x + rw, y + t, stroke)
                    fill(x, y + rh - t, x + rw, y + rh, stroke)
                    fill(x, y, x + t, y + rh, stroke)
                    fill(x + rw - t, y, x + rw, y + rh, stroke)
                }
            case let .disc(center, r, color):
                let cx = center.x * s, cy = center.y * s, rr = r * s
                for y in Int(cy - rr)...Int(cy + rr) {
                    for x in Int(cx - rr)...Int(cx + rr) {
                        let dx = Double(x) + 0.5 - cx, dy = Double(y) + 0.5 - cy
                        if dx * dx + dy * dy <= rr * rr { put(x, y, color) }
                    }
                }
            case let .text(string, at, size, anchor, _, color, rotated):
                precondition(!rotated, "the PNG renderer draws horizontal text only")
                // 5×7 glyphs in 6×9 cells; the cell height is the font size.
                let pixel = max(1, Int((size * s / 9).rounded()))
                let glyphs = string.unicodeScalars.map(bitmapGlyph)
                let advance = 6 * pixel
                let total = glyphs.count * advance - pixel
                var x = Int((at.x * s).rounded())
                if anchor == .middle { x -= total / 2 } else if anchor == .end { x -= total }
                let top = Int((at.y * s).rounded()) - 7 * pixel
                for glyph in glyphs {
                    for (row, bits) in glyph.enumerated() {
                        for column in 0..<5 where bits & (0x10 >> column) != 0 {
                            for dy in 0..<pixel { for dx in 0..<pixel { put(x + column * pixel + dx, top + row * pixel + dy, color) } }
                        }
                    }
                    x += advance
                }
            case let .image(image, x, y, iw, ih):
                let x0 = Int((x * s).rounded()), y0 = Int((y * s).rounded())
                let pw = Int((iw * s).rounded()), ph = Int((ih * s).rounded())
                guard pw > 0, ph > 0 else { continue }
                for py in 0..<ph {
                    let sy = py * image.height / ph
                    for px in 0..<pw {
                        let v = image.pixels[sy * image.width + px * image.width / pw]
                        put(x0 + px, y0 + py, RGB(v, v, v))
                    }
                }
            }
        }
        return encodePNG(width: w, height: h, channels: 3, pixels: canvas)
    }
}

/// A PNG file of 8-bit gray (`channels` 1) or RGB (3) pixels, row-major, compressed with zlib.
public func encodePNG(width: Int, height: Int, channels: Int, pixels: [UInt8]) -> [UInt8] {
    precondition(channels == 1 || channels == 3, "encodePNG: 1 or 3 channels")
    precondition(pixels.count == width * height * channels, "encodePNG: pixel count does not match the size")
    var raw: [UInt8] = []
    raw.reserveCapacity((width * channels + 1) * height)
    for y in 0..<height {
        raw.append(0)  // filter type None
        raw.append(contentsOf: pixels[(y * width * channels)..<((y + 1) * width * channels)])
    }
    var compressedSize = compressBound(uLong(raw.count))
    var compressed = [UInt8](repeating: 0, count: Int(compressedSize))
    let status = compress2(&compressed, &compressedSize, raw, uLong(raw.count), 9)
    precondition(status == Z_OK, "zlib compress2 failed with \(status)")
    compressed.removeSubrange(Int(compressedSize)...)

    func be32(_ v: Int) -> [UInt8] { [UInt8(v >> 24 & 0xff), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }
    func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        let crc = body.withUnsafeBufferPointer { crc32(0, $0.baseAddress, uInt($0.count)) }
        return be32(data.count) + body + be32(Int(crc))
    }
    let header = be32(width) + be32(height) + [8, channels == 1 ? 0 : 2, 0, 0, 0]
    return [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] + chunk("IHDR", header) + chunk("IDAT", compressed) + chunk("IEND", [])
}

/// 5×7 glyphs (one byte per row, bit 4 the left column) for digits, letters, and the symbols
/// labels use; any other character is drawn as a hollow box, so a missing glyph is visible.
private func bitmapGlyph(_ scalar: Unicode.Scalar) -> [UInt8] {
    let rows: [String]
    switch scalar {
    case " ": return [0, 0, 0, 0, 0, 0, 0]
    case "0": rows = [".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."]
    case "1": rows = ["..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."]
    case "2": rows = [".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"]
    case "3": rows = ["#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."]
    case "4": rows = ["...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."]
    case "5": rows = ["#####", "#....", "####.", "....#", "....#", "#...#", ".###."]
    case "6": rows = ["..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."]
    case "7": rows = ["#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."]
    case "8": rows = [".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."]
    case "9": rows = [".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."]
    case ".": rows = [".....", ".....", ".....", ".....", ".....", ".##..", ".##.."]
    case ",": rows = [".....", ".....", ".....", ".....", ".##..", "..#..", ".#..."]
    case ":": rows = [".....", ".##..", ".##..", ".....", ".##..", ".##..", "....."]
    case "%": rows = ["##...", "##..#", "...#.", "..#..", ".#...", "#..##", "...##"]
    case "-": rows = [".....", ".....", ".....", "#####", ".....", ".....", "....."]
    case "=": rows = [".....", ".....", "#####", ".....", "#####", ".....", "....."]
    case "(": rows = ["...#.", "..#..", ".#...", ".#...", ".#...", "..#..", "...#."]
    case ")": rows = [".#...", "..#..", "...#.", "...#.", "...#.", "..#..", ".#..."]
    case "/": rows = [".....", "....#", "...#.", "..#..", ".#...", "#....", "....."]
    case "→": rows = [".....", "..#..", "...#.", "#####", "...#.", "..#..", "....."]
    case "a": rows = [".....", ".....", ".###.", "....#", ".####", "#...#", ".####"]
    case "c": rows = [".....", ".....", ".###.", "#....", "#....", "#...#", ".###."]
    case "d": rows = ["....#", "....#", ".##.#", "#..##", "#...#", "#...#", ".####"]
    case "e": rows = [".....", ".....", ".###.", "#...#", "#####", "#....", ".###."]
    case "f": rows = ["..##.", ".#..#", ".#...", "###..", ".#...", ".#...", ".#..."]
    case "i": rows = ["..#..", ".....", ".##..", "..#..", "..#..", "..#..", ".###."]
    case "k": rows = ["#....", "#....", "#..#.", "#.#..", "##...", "#.#..", "#..#."]
    case "m": rows = [".....", ".....", "##.#.", "#.#.#", "#.#.#", "#...#", "#...#"]
    case "l": rows = [".##..", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."]
    case "n": rows = [".....", ".....", "#.##.", "##..#", "#...#", "#...#", "#...#"]
    case "o": rows = [".....", ".....", ".###.", "#...#", "#...#", "#...#", ".###."]
    case "p": rows = [".....", ".....", "####.", "#...#", "####.", "#....", "#...."]
    case "r": rows = [".....", ".....", "#.##.", "##..#", "#....", "#....", "#...."]
    case "s": rows = [".....", ".....", ".###.", "#....", ".###.", "....#", "####."]
    case "t": rows = [".#...", ".#...", "###..", ".#...", ".#...", ".#..#", "..##."]
    case "u": rows = [".....", ".....", "#...#", "#...#", "#...#", "#..##", ".##.#"]
    default: rows = ["#####", "#...#", "#...#", "#...#", "#...#", "#...#", "#####"]
    }
    return rows.map { row in row.reduce(UInt8(0)) { $0 << 1 | ($1 == "#" ? 1 : 0) } }
}
