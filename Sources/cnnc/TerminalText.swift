/// Text from a spec made safe to print: control characters (ESC sequences that retitle or clear
/// a terminal, bells, carriage returns) are shown as `\u{1B}`-style escapes instead of acting.
func terminalSafe(_ text: String) -> String {
    var out = ""
    for scalar in text.unicodeScalars {
        if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) {
            out += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
        } else {
            out.unicodeScalars.append(scalar)
        }
    }
    return out
}
