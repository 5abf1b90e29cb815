import Foundation

/// A progress bar on standard error: redrawn in place on a terminal; one final line otherwise.
///
/// When standard error is not a terminal (CI logs, pipes), nothing is printed until the
/// work is done, then one line with the totals, so logs stay short.
struct ProgressBar {
    let total: Int
    let label: String
    let isTerminal = isatty(STDERR_FILENO) != 0
    let start = ContinuousClock.now

    init(total: Int, label: String) {
        self.total = max(total, 1)
        self.label = label
    }

    /// Shows `done` of `total` with a free-form status (e.g. "loss 1.23, 2300 tok/s").
    mutating func update(_ done: Int, status: String = "") {
        let elapsed = (ContinuousClock.now - start).seconds
        let fraction = Double(done) / Double(total)
        let eta = done > 0 ? elapsed / fraction - elapsed : 0
        let line = String(format: "%@ %d/%d %@ elapsed %@ eta %@", label, done, total, status,
                          Self.clock(elapsed), Self.clock(eta))
        if isTerminal {
            let width = 24
            let filled = Int(fraction * Double(width))
            let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
            FileHandle.standardError.write(Data("\r\u{1B}[2K[\(bar)] \(line)".utf8))
            if done >= total { FileHandle.standardError.write(Data("\n".utf8)) }
        } else if done >= total {
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
    }

    /// `m:ss` for a number of seconds.
    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return String(format: "%d:%02d", s / 60, s % 60)
    }
}
