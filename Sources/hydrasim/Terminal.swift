import ArgumentParser
import Foundation
import Visualization

extension ColorChoice: ExpressibleByArgument {}

/// Colour and width options for commands that print text traces.
struct TerminalOptions: ParsableArguments {
    @Option(name: .long, help: "Colour: auto (a terminal, TERM not dumb, NO_COLOR unset), always or never.")
    var color: ColorChoice = .auto

    @Option(name: .long, help: "Wrap printed traces at this many columns (default: the terminal's width, else 100).")
    var width: Int?

    func validate() throws {
        if let width, width < 40 { throw CLIError("--width must be at least 40, got \(width)") }
    }

    /// The text-trace printer these options ask for.
    var textTrace: TextTrace {
        TextTrace(color: color.enabled(), width: width ?? Self.terminalWidth() ?? 100)
    }

    /// Columns of the terminal on standard output, or `$COLUMNS`, or nil.
    static func terminalWidth() -> Int? {
        var size = winsize()
        if isatty(1) == 1, ioctl(1, UInt(TIOCGWINSZ), &size) == 0, size.ws_col >= 40 { return Int(size.ws_col) }
        if let columns = ProcessInfo.processInfo.environment["COLUMNS"].flatMap(Int.init), columns >= 40 { return columns }
        return nil
    }
}
