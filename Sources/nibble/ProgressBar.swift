import Foundation
import Synchronization

/// A one-line progress bar on standard error. On a terminal it redraws in place; otherwise it prints a line
/// whenever the detail changes or progress moves by a tenth, so logs stay readable.
final class ProgressBar: Sendable {
    private struct State {
        var lastDetail = ""
        var lastDecile = -1
        var lastDraw = Date.distantPast
    }

    private let label: String
    private let interactive = isatty(STDERR_FILENO) != 0
    private let state = Mutex(State())

    init(label: String) { self.label = label }

    /// Shows progress `fraction` (0...1) with a short description of the current step.
    func update(fraction: Double, detail: String) {
        let clamped = min(max(fraction, 0), 1)
        state.withLock { state in
            let now = Date()
            if interactive {
                guard now.timeIntervalSince(state.lastDraw) > 0.05 || clamped >= 1 else { return }
                state.lastDraw = now
                let width = 28
                let filled = Int(clamped * Double(width))
                let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
                let line = String(format: "\r\u{1B}[2K%@ %@ %3d%% %@", label, bar, Int(clamped * 100), detail)
                FileHandle.standardError.write(Data(line.utf8))
            } else {
                let decile = Int(clamped * 10)
                let step = detail.split(separator: " ").prefix(2).joined(separator: " ")
                guard step != state.lastDetail || decile != state.lastDecile else { return }
                state.lastDetail = step
                state.lastDecile = decile
                FileHandle.standardError.write(Data("\(label): \(Int(clamped * 100))% \(detail)\n".utf8))
            }
        }
    }

    /// Ends the line.
    func finish() {
        if interactive { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
