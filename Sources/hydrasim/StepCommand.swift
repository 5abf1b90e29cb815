import ArgumentParser
import CEdit
import Foundation
import LanguageModel
import Lessons
import REPL
import Speculation
import Visualization

/// `hydrasim step`: a REPL to step through speculative decoding (gdb's habits), on the shipped model and heads by default.
struct StepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "step",
        abstract: "Step through speculative decoding in a REPL: step, back, compare decoders on one prefix, look at nodes.",
        discussion: """
        Type `help` at the (hydrasim) prompt. On a terminal: line editing, history (kept under $XDG_STATE_HOME/hydrasim/, \
        or ~/.local/state/hydrasim/, or $HYDRASIM_HOME) and tab completion. Otherwise commands are read line by line and \
        echoed after the prompt, as gdb does, so a script replays a session:
          hydrasim step --prompt "ROMEO:" --decoder hydra++ < session.txt
          hydrasim step --script Lessons/02-draft-and-verify/session.txt
        """
    )

    @OptionGroup var model: ModelOptions
    @OptionGroup var sampling: SamplingOptions
    @OptionGroup var speculation: SpeculationOptions
    @OptionGroup var terminal: TerminalOptions
    @OptionGroup var threads: ThreadOptions

    @Option(name: .long, help: "Prompt text (BOS is added).")
    var prompt = "ROMEO:"

    @Option(name: .long, help: "Read commands from this file instead of standard input (then stop).")
    var script: String?

    func run() throws {
        threads.apply()
        let checkpoint = try model.checkpointPath()
        let transformer = try model.loadModel()
        guard let tokenizer = try model.loadTokenizer(vocabularySize: transformer.config.vocabularySize) else {
            throw CLIError("hydrasim step needs a tokenizer for token texts: pass --tokenizer")
        }
        let workbench = Workbench(transformer: transformer, tokenizer: tokenizer, modelPath: checkpoint)
        let spec = speculation.verification.spec(speculation.decoder == .ar ? .hydraPlusPlus : speculation.decoder, heads: speculation.heads, sampling: sampling)
        let interpreter: Interpreter
        do {
            interpreter = try Interpreter(workbench: workbench, spec: speculation.decoderWasGiven ? spec : Self.defaultSpec(spec), prompt: prompt, seed: sampling.seed)
        } catch let error as DecoderSpecError {
            throw cliError(error)
        }
        interpreter.width = terminal.width ?? min(TerminalOptions.terminalWidth() ?? 80, 100)

        var lines: LineSource
        if let script {
            guard let text = try? String(contentsOfFile: script, encoding: .utf8) else { throw CLIError("\(script): cannot read the script") }
            lines = ScriptLines(text: text)
        } else if isatty(STDIN_FILENO) == 1 && isatty(STDOUT_FILENO) == 1 {
            interpreter.color = terminal.color.enabled()
            lines = EditLine(history: Self.historyPath())
        } else {
            lines = ScriptLines(text: nil)
        }
        Interrupt.install()
        interpreter.interrupted = { Interrupt.take() }
        let lessons = LessonSession(interpreter: interpreter, library: try? LessonLibrary.standard())
        print("HydraSim step: \(TokenText.quoted(prompt)) · \(interpreter.spec.description). Type help, or step.")
        while let line = lines.next(prompt: Interpreter.prompt) {
            _ = Interrupt.take()
            let reply = lessons.execute(line)
            if !reply.text.isEmpty { print(reply.text) }
            fflush(nil)
            if reply.quits { break }
        }
        lines.finish()
    }

    /// Without --decoder, the REPL starts on Hydra++ (the house heads' best) over the default tree.
    static func defaultSpec(_ spec: DecoderSpec) -> DecoderSpec {
        var s = spec
        s.decoder = .hydraPlusPlus
        return s
    }

    /// `$HYDRASIM_HOME/history`, else `$XDG_STATE_HOME/hydrasim/history`, else `~/.local/state/hydrasim/history`.
    static func historyPath() -> String? {
        let env = ProcessInfo.processInfo.environment
        let folder: String
        if let home = env["HYDRASIM_HOME"], !home.isEmpty { folder = home }
        else if let state = env["XDG_STATE_HOME"], !state.isEmpty { folder = state + "/hydrasim" }
        else if let home = env["HOME"], !home.isEmpty { folder = home + "/.local/state/hydrasim" }
        else { return nil }
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        return folder + "/history"
    }
}

extension SpeculationOptions {
    /// Whether --decoder was given (ar is the default of `generate`; the REPL starts on hydra++ unless told).
    var decoderWasGiven: Bool { decoder != .ar || CommandLine.arguments.contains("--decoder") }
}

/// Where command lines come from.
protocol LineSource {
    mutating func next(prompt: String) -> String?
    mutating func finish()
}

/// Lines of a script or of standard input, each echoed after the prompt (gdb's batch transcript).
struct ScriptLines: LineSource {
    var lines: [Substring]?
    var index = 0

    init(text: String?) {
        lines = text.map { $0.split(separator: "\n", omittingEmptySubsequences: false) }
        if let l = lines, l.last == "" { lines = Array(l.dropLast()) }
    }

    mutating func next(prompt: String) -> String? {
        let line: String
        if let lines {
            guard index < lines.count else { return nil }
            line = String(lines[index])
            index += 1
        } else {
            guard let read = readLine(strippingNewline: true) else { return nil }
            line = read
        }
        print(prompt + line)
        return line
    }

    mutating func finish() {}
}

/// libedit: line editing, persistent history and tab completion.
struct EditLine: LineSource {
    let history: String?

    init(history: String?) {
        self.history = history
        if let history { _ = read_history(history) }
        hydrasim_set_completion(completeWords)
    }

    mutating func next(prompt: String) -> String? {
        var line: UnsafeMutablePointer<CChar>?
        while true {
            line = readline(prompt)
            // Ctrl-C at the prompt abandons the line (as in gdb), it does not leave the REPL; end of input does.
            if line == nil && Interrupt.take() { print(""); continue }
            break
        }
        guard let raw = line else { print(""); return nil }
        defer { free(raw) }
        let text = String(cString: raw)
        if !text.trimmingCharacters(in: .whitespaces).isEmpty { add_history(raw) }
        return text
    }

    mutating func finish() {
        if let history { _ = write_history(history) }
    }
}

/// Words offered by tab completion: commands first, then settings, decoders, rules and trees.
nonisolated(unsafe) var completionWords: [String] = Interpreter.commandWords + ["lesson", "lessons", "check", "hint"] + Interpreter.settingNames
    + DecoderKind.allCases.map(\.rawValue) + RuleKind.allCases.map(\.rawValue) + ["settings", "breakpoints", "displays", "tree", "text", "stats", "mask", "kv", "probs", "cost"]
    + (Fixtures.treesFolder.flatMap { CandidateTree.shippedNames(in: $0) } ?? []) + CandidateTree.teaching.keys.sorted()

/// libedit's completion callback: the completion words that start with the text typed so far.
private let completeWords: @convention(c) (UnsafePointer<CChar>?, Int32, Int32) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = { text, _, _ in
    hydrasim_completion_over()
    return rl_completion_matches(text) { prefix, state in
        struct Iterator { nonisolated(unsafe) static var matches: [String] = []; nonisolated(unsafe) static var index = 0 }
        if state == 0 {
            let typed = prefix.map { String(cString: $0) } ?? ""
            Iterator.matches = Array(Set(completionWords.filter { $0.hasPrefix(typed) })).sorted()
            Iterator.index = 0
        }
        guard Iterator.index < Iterator.matches.count else { return nil }
        defer { Iterator.index += 1 }
        return strdup(Iterator.matches[Iterator.index])
    }
}

/// Ctrl-C stops a long `step N` or `continue` without leaving the REPL.
enum Interrupt {
    nonisolated(unsafe) static var flag: sig_atomic_t = 0

    static func install() {
        signal(SIGINT) { _ in Interrupt.flag = 1 }
    }

    /// Whether Ctrl-C was pressed since the last call.
    static func take() -> Bool {
        let was = flag != 0
        flag = 0
        return was
    }
}
