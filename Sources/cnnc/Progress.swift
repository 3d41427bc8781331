import Foundation
import Graph
import Runtime
import Spec

/// A one-line progress bar redrawn in place on standard error, only when it is a terminal.
struct ProgressBar {
    let enabled: Bool
    private var lastDraw = 0.0

    init(enabled: Bool) {
        self.enabled = enabled && stderrIsTerminal
    }

    /// Redraws at most ten times a second (always at `fraction` 1).
    mutating func draw(prefix: String, fraction: Double, suffix: String) {
        guard enabled else { return }
        let time = now()
        guard fraction >= 1 || time - lastDraw >= 0.1 else { return }
        lastDraw = time
        let width = 30
        let filled = min(width, max(0, Int((fraction * Double(width)).rounded(.down))))
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        printError("\r\u{1B}[2K\(prefix) \(bar) \(suffix)", terminator: "")
    }

    /// Erases the bar so the next line starts clean.
    func clear() {
        guard enabled else { return }
        printError("\r\u{1B}[2K", terminator: "")
    }
}

/// Ctrl-C (SIGINT) or SIGTERM (Slurm, container runtimes) asks a run to stop after the current
/// step; a second one ends the process at once (every file is written atomically, so this
/// leaves the last complete ones).
enum Interrupt {
    /// The signal received, 0 while none.
    nonisolated(unsafe) static var requested: sig_atomic_t = 0

    static func install() {
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber) { received in
                if Interrupt.requested != 0 {
                    _exit(128 + received)
                }
                Interrupt.requested = received
            }
        }
    }

    static var isRequested: Bool { requested != 0 }

    /// The shell's convention: 128 + the signal (130 for Ctrl-C, 143 for SIGTERM).
    static var exitCode: Int32 { 128 + Int32(requested) }
}
