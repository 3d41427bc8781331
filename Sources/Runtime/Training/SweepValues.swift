import Foundation
import Graph
import Spec

/// One swept value, kept as the decimal the user wrote so it prints exactly (`0.3`, never
/// `0.30000000000000004`) and converts to the nearest Double once.
public struct SweepValue: Hashable, Sendable, CustomStringConvertible {
    /// The value times 10^scale, exactly.
    public var scaled: Int
    /// Decimal digits after the point.
    public var scale: Int

    public init(scaled: Int, scale: Int) {
        self.scaled = scaled
        self.scale = scale
    }

    public var value: Double { Double(description) ?? Double(scaled) / pow(10, Double(scale)) }

    /// Shortest decimal form: `0`, `0.1`, `0.25`.
    public var description: String {
        var digits = String(scaled.magnitude)
        if scale > 0 {
            if digits.count <= scale {
                digits = String(repeating: "0", count: scale - digits.count + 1) + digits
            }
            let split = digits.index(digits.endIndex, offsetBy: -scale)
            var fraction = String(digits[split...])
            while fraction.hasSuffix("0") { fraction.removeLast() }
            digits = String(digits[..<split]) + (fraction.isEmpty ? "" : "." + fraction)
        }
        return (scaled < 0 && scaled != 0 ? "-" : "") + digits
    }

    /// The value as an integer, if it is one.
    public var integer: Int? {
        var scaled = self.scaled
        for _ in 0..<scale {
            guard scaled % 10 == 0 else { return nil }
            scaled /= 10
        }
        return scaled
    }
}

public struct SweepValueError: Error, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}

/// Which values a swept parameter takes.
public struct SweepDomain: Hashable, Sendable {
    public var lower: Double
    public var lowerIncluded: Bool
    public var upper: Double
    public var upperIncluded: Bool
    /// Only whole numbers.
    public var integer: Bool

    public init(lower: Double, lowerIncluded: Bool = true, upper: Double, upperIncluded: Bool = false, integer: Bool = false) {
        self.lower = lower
        self.lowerIncluded = lowerIncluded
        self.upper = upper
        self.upperIncluded = upperIncluded
        self.integer = integer
    }

    public init(_ range: Range<Double>) {
        self.init(lower: range.lowerBound, upper: range.upperBound)
    }

    public func contains(_ value: Double) -> Bool {
        (lowerIncluded ? value >= lower : value > lower) && (upperIncluded ? value <= upper : value < upper)
    }

    public var description: String {
        let high = upper.isInfinite ? "∞)" : formatBound(upper) + (upperIncluded ? "]" : ")")
        return (lowerIncluded ? "[" : "(") + formatBound(lower) + ", " + high
    }
}

/// The values of one swept flag and how they were spaced.
public struct SweepValueList: Hashable, Sendable {
    public var values: [SweepValue]
    /// Written as a log range (`1e-4..1e-1*4`): plots use a log axis.
    public var logSpaced: Bool
}

/// The most values one flag may list.
public let sweepValueLimit = 10_000

/// Parses `start:stop:step` (inclusive, computed in exact decimal steps), `low..high*N` (N values
/// evenly spaced in log scale, rounded to 3 significant digits), or a comma-separated list.
/// Every value must lie in `allowedRange` (for dropout, [0, 1)).
public func parseSweepValues(_ text: String, allowedRange: Range<Double> = 0..<1) throws -> [SweepValue] {
    try parseSweepValueList(text, domain: SweepDomain(allowedRange)).values
}

public func parseSweepValueList(_ text: String, domain: SweepDomain) throws -> SweepValueList {
    let trimmed = text.trimmingCharacters(in: .whitespaces)
    guard !trimmed.isEmpty else { throw SweepValueError(description: "no values given") }
    var values: [SweepValue]
    var logSpaced = false
    if trimmed.contains("..") {
        values = try parseLogRange(trimmed)
        logSpaced = true
    } else if trimmed.contains(":") {
        let parts = trimmed.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3 else {
            throw SweepValueError(description: "a range is start:stop:step, got '\(trimmed)'")
        }
        let numbers = try parts.map { try parseDecimal($0.trimmingCharacters(in: .whitespaces)) }
        let scale = numbers.map(\.scale).max() ?? 0
        let start = try rescale(numbers[0], to: scale)
        let stop = try rescale(numbers[1], to: scale)
        let step = try rescale(numbers[2], to: scale)
        guard step > 0 else { throw SweepValueError(description: "the step must be positive, got \(numbers[2])") }
        guard stop >= start else { throw SweepValueError(description: "the range ends (\(numbers[1])) before it starts (\(numbers[0]))") }
        let (span, overflow) = stop.subtractingReportingOverflow(start)
        guard !overflow, span / step < sweepValueLimit else {
            throw SweepValueError(description: "the range has more than \(groupedThousands(sweepValueLimit)) values")
        }
        values = stride(from: start, through: stop, by: step).map { SweepValue(scaled: $0, scale: scale) }
    } else {
        values = try trimmed.split(separator: ",", omittingEmptySubsequences: false).map {
            try parseDecimal(String($0).trimmingCharacters(in: .whitespaces))
        }
        guard values.count <= sweepValueLimit else {
            throw SweepValueError(description: "the list has more than \(groupedThousands(sweepValueLimit)) values")
        }
    }
    try checkSweepValues(values, domain: domain)
    return SweepValueList(values: values, logSpaced: logSpaced)
}

/// Every value in `domain` (whole where it must be), none twice.
public func checkSweepValues(_ values: [SweepValue], domain: SweepDomain) throws {
    for value in values where !domain.contains(value.value) {
        throw SweepValueError(description: "\(value) is outside \(domain.description)")
    }
    if domain.integer {
        for value in values where value.integer == nil {
            throw SweepValueError(description: "\(value) is not a whole number")
        }
    }
    var seen = Set<Double>()
    for value in values where !seen.insert(value.value).inserted {
        throw SweepValueError(description: "\(value) is listed twice")
    }
}

/// `low..high*N`: N ≥ 2 values from low to high (both positive), evenly spaced in log scale,
/// each rounded to 3 significant digits so that the value printed is the value used.
private func parseLogRange(_ text: String) throws -> [SweepValue] {
    let form = "a log range is low..high*count, like 1e-4..1e-1*4"
    let halves = text.components(separatedBy: "..")
    guard halves.count == 2 else { throw SweepValueError(description: "\(form), got '\(text)'") }
    let tail = halves[1].split(separator: "*", omittingEmptySubsequences: false).map(String.init)
    guard tail.count == 2 else { throw SweepValueError(description: "\(form), got '\(text)'") }
    let low = try parseDecimal(halves[0].trimmingCharacters(in: .whitespaces))
    let high = try parseDecimal(tail[0].trimmingCharacters(in: .whitespaces))
    guard let count = Int(tail[1].trimmingCharacters(in: .whitespaces)), count >= 2 else {
        throw SweepValueError(description: "the count after '*' must be a whole number of at least 2, got '\(tail[1])'")
    }
    guard count <= sweepValueLimit else {
        throw SweepValueError(description: "the range has more than \(groupedThousands(sweepValueLimit)) values")
    }
    guard low.value > 0, high.value > 0 else { throw SweepValueError(description: "a log range needs positive ends, got '\(text)'") }
    guard high.value > low.value else { throw SweepValueError(description: "the range ends (\(high)) before it starts (\(low))") }
    let (a, b) = (log10(low.value), log10(high.value))
    return try (0..<count).map { i in
        if i == 0 { return low }
        if i == count - 1 { return high }
        let x = pow(10, a + (b - a) * Double(i) / Double(count - 1))
        return try parseDecimal(String(format: "%.2e", x))
    }
}

/// The most significant digits a value may have (a Double holds 15 exactly).
private let significantDigitLimit = 15

/// A decimal: optional sign, digits, optional fraction, optional exponent (`1e-3`). No `inf`/`nan`.
func parseDecimal(_ text: String) throws -> SweepValue {
    let invalid = SweepValueError(description: "'\(text)' is not a decimal number")
    var rest = Substring(text)
    var exponent = 0
    if let e = rest.firstIndex(where: { $0 == "e" || $0 == "E" }) {
        var exponentText = rest[rest.index(after: e)...]
        var negativeExponent = false
        if exponentText.first == "-" || exponentText.first == "+" {
            negativeExponent = exponentText.first == "-"
            exponentText = exponentText.dropFirst()
        }
        guard !exponentText.isEmpty, exponentText.count <= 3, exponentText.allSatisfy({ $0.isASCII && $0.isNumber }),
              let magnitude = Int(exponentText) else { throw invalid }
        exponent = negativeExponent ? -magnitude : magnitude
        rest = rest[..<e]
    }
    var negative = false
    if rest.first == "-" || rest.first == "+" {
        negative = rest.first == "-"
        rest = rest.dropFirst()
    }
    let pieces = rest.split(separator: ".", omittingEmptySubsequences: false)
    let whole = pieces.first ?? ""
    let fraction = pieces.count > 1 ? pieces[1] : ""
    let isDigits = { (s: Substring) in s.allSatisfy { $0.isASCII && $0.isNumber } }
    guard pieces.count <= 2, isDigits(whole), isDigits(fraction), !(whole.isEmpty && fraction.isEmpty) else {
        throw invalid
    }
    var digits = String(whole + fraction).drop { $0 == "0" }
    var scale = fraction.count - exponent
    // Trailing zeros carry no precision: 1000 is 1 × 10^3.
    while scale < 0 {
        digits += "0"
        scale += 1
    }
    while scale > 0, digits.hasSuffix("0") {
        digits.removeLast()
        scale -= 1
    }
    guard digits.count <= significantDigitLimit, scale <= 30 else {
        throw SweepValueError(description: "'\(text)' has more than \(significantDigitLimit) significant digits or is too small")
    }
    let magnitude = Int(digits.isEmpty ? "0" : String(digits)) ?? 0
    return SweepValue(scaled: negative ? -magnitude : magnitude, scale: digits.isEmpty ? 0 : scale)
}

/// `value` with `scale` fraction digits; an error where that does not fit exactly.
private func rescale(_ value: SweepValue, to scale: Int) throws -> Int {
    var scaled = value.scaled
    for _ in value.scale..<scale {
        let (next, overflow) = scaled.multipliedReportingOverflow(by: 10)
        guard !overflow, next.magnitude < 1 << 53 else {
            throw SweepValueError(description: "\(value) cannot be stepped in steps of 10^-\(scale) exactly (more than \(significantDigitLimit) significant digits)")
        }
        scaled = next
    }
    return scaled
}

private func formatBound(_ value: Double) -> String {
    value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : "\(value)"
}
