import Foundation

/// One swept value, kept as the decimal the user wrote so it prints exactly (`0.3`, never
/// `0.30000000000000004`) and converts to the nearest Double once.
public struct SweepValue: Hashable, Sendable, CustomStringConvertible {
    /// The value times 10^scale, exactly.
    public var scaled: Int
    /// Decimal digits after the point.
    public var scale: Int

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
        return (scaled < 0 ? "-" : "") + digits
    }
}

public struct SweepValueError: Error, CustomStringConvertible {
    public var description: String
}

/// Parses `start:stop:step` (inclusive, computed in exact decimal steps) or a comma-separated
/// list. Every value must lie in `allowed` (for dropout, [0, 1)).
public func parseSweepValues(_ text: String, allowedRange: Range<Double> = 0..<1) throws -> [SweepValue] {
    let trimmed = text.trimmingCharacters(in: .whitespaces)
    guard !trimmed.isEmpty else { throw SweepValueError(description: "no values given") }
    var values: [SweepValue]
    if trimmed.contains(":") {
        let parts = trimmed.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3 else {
            throw SweepValueError(description: "a range is start:stop:step, got '\(trimmed)'")
        }
        let numbers = try parts.map { try parseDecimal($0.trimmingCharacters(in: .whitespaces)) }
        let scale = numbers.map(\.scale).max() ?? 0
        let (start, stop, step) = (rescale(numbers[0], to: scale), rescale(numbers[1], to: scale), rescale(numbers[2], to: scale))
        guard step > 0 else { throw SweepValueError(description: "the step must be positive, got \(numbers[2])") }
        guard stop >= start else { throw SweepValueError(description: "the range ends (\(numbers[1])) before it starts (\(numbers[0]))") }
        guard (stop - start) / step < 10_000 else { throw SweepValueError(description: "the range has more than 10,000 values") }
        values = stride(from: start, through: stop, by: step).map { SweepValue(scaled: $0, scale: scale) }
    } else {
        values = try trimmed.split(separator: ",", omittingEmptySubsequences: false).map {
            try parseDecimal(String($0).trimmingCharacters(in: .whitespaces))
        }
    }
    for value in values where !allowedRange.contains(value.value) {
        throw SweepValueError(description: "\(value) is outside [\(formatBound(allowedRange.lowerBound)), \(formatBound(allowedRange.upperBound)))")
    }
    var seen = Set<Double>()
    for value in values where !seen.insert(value.value).inserted {
        throw SweepValueError(description: "\(value) is listed twice")
    }
    return values
}

/// A plain decimal: optional sign, digits, optional fraction. No exponents, no `inf`/`nan`.
func parseDecimal(_ text: String) throws -> SweepValue {
    var rest = Substring(text)
    var negative = false
    if rest.first == "-" || rest.first == "+" {
        negative = rest.first == "-"
        rest = rest.dropFirst()
    }
    let pieces = rest.split(separator: ".", omittingEmptySubsequences: false)
    let whole = pieces.first ?? ""
    let fraction = pieces.count > 1 ? pieces[1] : ""
    let isDigits = { (s: Substring) in s.allSatisfy { $0.isASCII && $0.isNumber } }
    guard pieces.count <= 2, isDigits(whole), isDigits(fraction), !(whole.isEmpty && fraction.isEmpty),
          whole.count + fraction.count <= 15 else {
        throw SweepValueError(description: "'\(text)' is not a decimal number")
    }
    let magnitude = Int(whole + fraction) ?? 0
    return SweepValue(scaled: negative ? -magnitude : magnitude, scale: fraction.count)
}

private func rescale(_ value: SweepValue, to scale: Int) -> Int {
    var scaled = value.scaled
    for _ in value.scale..<scale { scaled *= 10 }
    return scaled
}

private func formatBound(_ value: Double) -> String {
    value == value.rounded() ? String(Int(value)) : "\(value)"
}
