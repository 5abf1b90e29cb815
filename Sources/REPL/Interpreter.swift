import Foundation
import LanguageModel
import Numerics
import Speculation
import Visualization

/// What one command line produced: text to print, whether it was an error, and whether the REPL should end.
public struct Reply: Equatable, Sendable {
    public var text: String
    public var isError: Bool
    public var quits: Bool
    public init(text: String, isError: Bool = false, quits: Bool = false) {
        self.text = text
        self.isError = isError
        self.quits = quits
    }
}

/// A problem with what the user typed: one line, and the prompt again.
public struct CommandError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The REPL's interpreter: a line in, its output out as a value (no terminal needed, so scripts, tests and lessons
/// drive it). It follows gdb's habits: short unique prefixes and aliases, an empty line repeats the last moving
/// command, `help [COMMAND]`, breakpoints, `display`. Nothing typed makes it throw or crash: every error is one line.
public final class Interpreter {
    public let workbench: Workbench
    public private(set) var session: DecodingSession
    /// The decoder that runs the next step.
    public private(set) var spec: DecoderSpec
    public private(set) var seed: UInt64
    public private(set) var promptText: String
    /// Colour in `tree` and `compare` output (the caller decides, as `trace --color` does).
    public var color = false
    /// Output width.
    public var width = 80
    /// Polled between steps of `step N` and `continue`: true stops them (Ctrl-C in a terminal).
    public var interrupted: () -> Bool = { false }
    /// Where relative output files go (`diagram`, `html`, `save-trace`).
    public var outputFolder = "Output"

    var breakpoints: [(id: Int, condition: Breakpoint)] = []
    var nextBreakpointID = 1
    var displays: [String] = []
    var lastMoving: String?
    /// Safety limit for `continue` and `step N`.
    public var stepLimit = 100_000

    /// An interpreter on a new session of `prompt` decoded by `spec`.
    public init(workbench: Workbench, spec: DecoderSpec, prompt: String, seed: UInt64 = 42) throws {
        self.workbench = workbench
        self.spec = spec
        self.seed = seed
        self.promptText = prompt
        session = try Self.makeSession(workbench, spec: spec, prompt: prompt, seed: seed)
    }

    static func makeSession(_ workbench: Workbench, spec: DecoderSpec, prompt: String, seed: UInt64) throws -> DecodingSession {
        let drafter = try workbench.drafter(spec)
        let ids = workbench.encode(prompt)
        let session = try DecodingSession(model: workbench.model, drafter: drafter, prompt: ids, seed: seed)
        session.capturesDetails = true
        return session
    }

    /// The REPL's prompt.
    public static let prompt = "(hydrasim) "

    // MARK: Commands

    struct Command: Sendable {
        var name: String
        var aliases: [String]
        var usage: String
        var summary: String
        var moving: Bool
        var run: @Sendable (Interpreter, [String]) throws -> String
    }

    static let commands: [Command] = [
        Command(name: "step", aliases: ["s", "next", "n"], usage: "step [N]", summary: "run N draft-and-verify steps (default 1), each printed compactly", moving: true) { try $0.stepCommand($1) },
        Command(name: "back", aliases: ["reverse-step", "rs"], usage: "back [N]", summary: "go back N steps (default 1) to the exact state before them", moving: true) { try $0.backCommand($1) },
        Command(name: "goto", aliases: [], usage: "goto N", summary: "go to the state after step N (0: the start), back or forward in the history", moving: true) { try $0.gotoCommand($1) },
        Command(name: "continue", aliases: ["c", "cont"], usage: "continue", summary: "step until a breakpoint fires or decoding ends", moving: true) { try $0.continueCommand($1) },
        Command(name: "break", aliases: ["b"], usage: "break [CONDITION]", summary: "stop continue at: tau<N (<=, >, >=, ==), token \"TEXT\", rejected K, step N; no argument lists them", moving: false) { try $0.breakCommand($1) },
        Command(name: "delete", aliases: ["d"], usage: "delete [ID]", summary: "delete breakpoint ID, or all of them", moving: false) { try $0.deleteCommand($1) },
        Command(name: "restart", aliases: [], usage: "restart", summary: "back to the start of the prompt (the history stays reachable with goto)", moving: true) { try $0.restartCommand($1) },
        Command(name: "prompt", aliases: [], usage: "prompt TEXT", summary: "start over on a new prompt (BOS added)", moving: false) { try $0.promptCommand($1) },
        Command(name: "tree", aliases: ["t"], usage: "tree", summary: "the last step's full text trace: every node, its outcome, the accepted path", moving: false) { try $0.treeCommand($1) },
        Command(name: "node", aliases: [], usage: "node N|PATH", summary: "one node (index, or rank path like 0.1): its head's top-k beside the base model's, and why", moving: false) { try $0.nodeCommand($1) },
        Command(name: "probs", aliases: ["p"], usage: "probs [N]", summary: "draft vs base distributions below node N (default the root), as bars", moving: false) { try $0.probsCommand($1) },
        Command(name: "mask", aliases: [], usage: "mask", summary: "the last step's tree attention mask, with position ids", moving: false) { try $0.maskCommand($1) },
        Command(name: "kv", aliases: [], usage: "kv", summary: "the KV cache through the last step: length before and after, slots kept and moved", moving: false) { try $0.kvCommand($1) },
        Command(name: "text", aliases: [], usage: "text", summary: "the prompt and the text so far, the last step's tokens in [brackets]", moving: false) { try $0.textCommand($1) },
        Command(name: "stats", aliases: [], usage: "stats", summary: "tau so far, acceptance per depth, histogram of tokens per step", moving: false) { try $0.statsCommand($1) },
        Command(name: "cost", aliases: [], usage: "cost", summary: "the last step's measured draft and verify time, and the cost model's projection", moving: false) { try $0.costCommand($1) },
        Command(name: "display", aliases: [], usage: "display [WHAT]", summary: "print WHAT (tree, text, stats, mask, kv, probs, cost) after every step; no argument lists them", moving: false) { try $0.displayCommand($1) },
        Command(name: "undisplay", aliases: [], usage: "undisplay [WHAT]", summary: "stop displaying WHAT, or everything", moving: false) { try $0.undisplayCommand($1) },
        Command(name: "compare", aliases: ["cmp"], usage: "compare DECODER [--heads F] [--tree T] [--full]", summary: "draft the current prefix with the current decoder and DECODER, side by side (--full: every node)", moving: false) { try $0.compareCommand($1) },
        Command(name: "diagram", aliases: [], usage: "diagram [--contrast D] [--format svg|png|pdf|dot] [FILE]", summary: "draw the last step (or a contrast on the current prefix) to FILE", moving: false) { try $0.diagramCommand($1) },
        Command(name: "html", aliases: [], usage: "html [FILE]", summary: "write the step-through page of the session so far", moving: false) { try $0.htmlCommand($1) },
        Command(name: "save-trace", aliases: [], usage: "save-trace FILE", summary: "write the session's steps as a trace (read by `hydrasim diagram`)", moving: false) { try $0.saveTraceCommand($1) },
        Command(name: "set", aliases: [], usage: "set decoder|heads|tree|rule|temperature|top-p|eps|delta|head-precision|seed VALUE", summary: "change a setting from here on (the history before it stays)", moving: false) { try $0.setCommand($1) },
        Command(name: "show", aliases: ["info"], usage: "show settings|breakpoints|displays", summary: "the current settings, breakpoints or displays", moving: false) { try $0.showCommand($1) },
        Command(name: "help", aliases: ["h", "?"], usage: "help [COMMAND]", summary: "the commands, or one command", moving: false) { try $0.helpCommand($1) },
        Command(name: "quit", aliases: ["exit", "q"], usage: "quit", summary: "leave (end of input does too)", moving: false) { _, _ in "" },
    ]

    /// Every command name and alias (tab completion).
    public static var commandWords: [String] { commands.flatMap { [$0.name] + $0.aliases } }
    /// Words `set` takes.
    public static let settingNames = ["decoder", "heads", "tree", "rule", "temperature", "top-p", "eps", "delta", "head-precision", "seed"]
    static let displayable = ["tree", "text", "stats", "mask", "kv", "probs", "cost"]

    /// Runs one line. Never throws: errors come back as one line with `isError`.
    public func execute(_ line: String) -> Reply {
        var trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty {
            guard let last = lastMoving else { return Reply(text: "") }
            trimmed = last
        }
        if trimmed.hasPrefix("#") { return Reply(text: "") }
        let words: [String]
        do { words = try Self.split(trimmed) } catch { return Reply(text: "error: \(error)", isError: true) }
        guard let first = words.first else { return Reply(text: "") }
        let command: Command
        switch Self.resolve(first) {
        case .found(let c): command = c
        case .ambiguous(let names):
            return Reply(text: "error: '\(first)' is ambiguous: \(names.joined(separator: ", "))", isError: true)
        case .unknown(let suggestions):
            let hint = suggestions.isEmpty ? "type help for the commands" : "did you mean \(suggestions.map { "'\($0)'" }.joined(separator: " or "))?"
            return Reply(text: "error: unknown command '\(first)': \(hint)", isError: true)
        }
        if command.name == "quit" { return Reply(text: "", quits: true) }
        do {
            let text = try command.run(self, Array(words.dropFirst()))
            if command.moving { lastMoving = trimmed }
            return Reply(text: text)
        } catch let error as CommandError {
            return Reply(text: "error: \(error.message)", isError: true)
        } catch {
            return Reply(text: "error: \(Self.describe(error))", isError: true)
        }
    }

    /// One line for any error the engine throws.
    static func describe(_ error: Error) -> String {
        String(describing: error).components(separatedBy: "\n").first ?? ""
    }

    enum Resolution {
        case found(Command)
        case ambiguous([String])
        case unknown([String])
    }

    /// A command by name, alias or unique prefix (gdb's rule); otherwise the nearest names.
    static func resolve(_ word: String) -> Resolution {
        let w = word.lowercased()
        if let exact = commands.first(where: { $0.name == w || $0.aliases.contains(w) }) { return .found(exact) }
        let prefixed = commands.filter { $0.name.hasPrefix(w) }
        if prefixed.count == 1 { return .found(prefixed[0]) }
        if prefixed.count > 1 { return .ambiguous(prefixed.map(\.name)) }
        return .unknown(Suggestions.nearest(w, among: commandWords.filter { $0.count > 1 }))
    }

    /// Splits a line into words: spaces separate, double quotes group (with `\"`, `\\`, `\n`, `\t` inside).
    static func split(_ line: String) throws -> [String] {
        var words: [String] = []
        var current = ""
        var inWord = false, quoted = false, escaped = false
        for ch in line {
            if escaped {
                switch ch {
                case "n": current.append("\n")
                case "t": current.append("\t")
                default: current.append(ch)
                }
                escaped = false
                continue
            }
            if quoted {
                if ch == "\\" { escaped = true } else if ch == "\"" { quoted = false } else { current.append(ch) }
                continue
            }
            if ch == "\"" { quoted = true; inWord = true; continue }
            if ch == " " || ch == "\t" {
                if inWord { words.append(current); current = ""; inWord = false }
                continue
            }
            current.append(ch)
            inWord = true
        }
        if quoted { throw CommandError("unterminated quote") }
        if inWord { words.append(current) }
        return words
    }

    // MARK: Moving

    func count(_ args: [String], default value: Int, name: String, allowZero: Bool = false) throws -> Int {
        guard let word = args.first else { return value }
        guard args.count == 1 else { throw CommandError("\(name) takes one number, got '\(args.joined(separator: " "))'") }
        guard let n = Int(word), n >= (allowZero ? 0 : 1) else {
            throw CommandError("\(name) takes a whole number of steps \(allowZero ? ">= 0" : ">= 1"), got '\(word)'")
        }
        guard n <= stepLimit else { throw CommandError("\(name) \(n): at most \(stepLimit) at a time") }
        return n
    }

    func stepCommand(_ args: [String]) throws -> String {
        let n = try count(args, default: 1, name: "step")
        var out: [String] = []
        for i in 0..<n {
            if i > 0 && interrupted() { out.append("interrupted after \(i) steps"); break }
            guard let record = try session.step() else {
                out.append(stoppedLine())
                break
            }
            out.append(compact(record))
            out += displayOutputs()
            if n > 1, let fired = firedBreakpoint(record) { out.append(fired); break }
        }
        if session.stopReason != nil, !(out.last ?? "").hasPrefix("decoding stopped") { out.append(stoppedLine()) }
        return out.joined(separator: "\n")
    }

    func stoppedLine() -> String {
        "decoding stopped: \(session.stopReason?.explanation ?? "not stopped") after \(session.position) steps, \(session.tokens.count) tokens (tau \(String(format: "%.2f", session.meanAcceptance)))"
    }

    func backCommand(_ args: [String]) throws -> String {
        let n = try count(args, default: 1, name: "back")
        try session.back(n)
        return whereLine()
    }

    func gotoCommand(_ args: [String]) throws -> String {
        guard args.count == 1, let k = Int(args[0]) else { throw CommandError("goto takes a step number, e.g. goto 3 (0 is the start)") }
        try session.goto(k)
        return whereLine()
    }

    func restartCommand(_ args: [String]) throws -> String {
        guard args.isEmpty else { throw CommandError("restart takes no argument") }
        try session.restart()
        return whereLine()
    }

    /// Where the session is: after which step, the text's end, the pending root.
    func whereLine() -> String {
        let position = session.position == 0 ? "at the start" : "after step \(session.position)"
        let tail = TokenText.tail(TokenText.visible(workbench.tokenizer.decode(session.context, after: -1)), 40)
        let next = session.stopReason == nil ? "; next step drafts below \(workbench.quoted(session.pendingRoot))" : "; \(session.stopReason!.explanation)"
        return "\(position) (\(session.tokens.count) tokens, cache \(session.prefixLength)): …\(tail)\(next)"
    }

    func continueCommand(_ args: [String]) throws -> String {
        guard args.isEmpty else { throw CommandError("continue takes no argument (use step N for a number of steps)") }
        var taken = 0
        var last: StepRecord?
        var fired: String?
        while taken < stepLimit {
            if taken > 0 && interrupted() { fired = "interrupted"; break }
            guard let record = try session.step() else { break }
            taken += 1
            last = record
            if let f = firedBreakpoint(record) { fired = f; break }
        }
        var out = ["continued \(taken) step\(taken == 1 ? "" : "s")"]
        if let last { out.append(compact(last)); out += displayOutputs() }
        if let fired { out.append(fired) } else if session.stopReason != nil { out.append(stoppedLine()) }
        return out.joined(separator: "\n")
    }

    func promptCommand(_ args: [String]) throws -> String {
        guard !args.isEmpty else { throw CommandError("prompt takes text, e.g. prompt \"JULIET:\"") }
        let text = args.joined(separator: " ")
        session = try Self.makeSession(workbench, spec: spec, prompt: text, seed: seed)
        promptText = text
        return "new prompt \(TokenText.quoted(text)) (\(session.prompt.count) tokens)\n" + whereLine()
    }

    // MARK: Breakpoints

    func breakCommand(_ args: [String]) throws -> String {
        if args.isEmpty { return try showCommand(["breakpoints"]) }
        let condition = try Breakpoint.parse(args, workbench: workbench)
        let id = nextBreakpointID
        nextBreakpointID += 1
        breakpoints.append((id, condition))
        return "breakpoint \(id): \(condition.description)"
    }

    func deleteCommand(_ args: [String]) throws -> String {
        if args.isEmpty {
            let n = breakpoints.count
            breakpoints.removeAll()
            return "deleted \(n) breakpoint\(n == 1 ? "" : "s")"
        }
        guard args.count == 1, let id = Int(args[0]) else { throw CommandError("delete takes a breakpoint number (see break)") }
        guard let index = breakpoints.firstIndex(where: { $0.id == id }) else {
            throw CommandError("no breakpoint \(id)" + (breakpoints.isEmpty ? " (there are none)" : " (there are \(breakpoints.map { "\($0.id)" }.joined(separator: ", ")))"))
        }
        breakpoints.remove(at: index)
        return "deleted breakpoint \(id)"
    }

    func firedBreakpoint(_ record: StepRecord) -> String? {
        for (id, condition) in breakpoints where condition.fires(record, workbench: workbench) {
            return "breakpoint \(id) (\(condition.description)) at step \(record.step)"
        }
        return nil
    }

    // MARK: Looking

    /// The last step taken, or an error saying there is none.
    func lastStep() throws -> StepRecord {
        guard let last = session.steps.last else { throw CommandError("no step yet: type step") }
        return last
    }

    /// A trace of the session so far (token texts filled in), for the pictures.
    func sessionTrace(timings: Bool = false) -> DecodingTrace {
        let d = session.drafter
        let settings = TraceSettings(model: workbench.modelName, modelFingerprint: workbench.fingerprint, heads: d.headsPath.map { URL(fileURLWithPath: $0).lastPathComponent },
                                     headsKind: d.heads?.config.kind.rawValue, tree: d.spec.decoder == .ar ? "none" : d.proposer.treeName,
                                     treeNodes: d.proposer.maxNodeCount, rule: d.rule, seed: seed, maxTokens: session.maxTokens == .max ? 0 : session.maxTokens)
        return DecodingTrace(decoder: d.spec.decoder.rawValue, settings: settings, prompt: promptText, promptTokens: session.prompt,
                             result: session.result(), tokenizer: workbench.tokenizer, timings: timings)
    }

    func lastStepView() throws -> StepView {
        _ = try lastStep()
        let view = TraceView(sessionTrace())
        return try view.step(view.stepCount)
    }

    func treeCommand(_ args: [String]) throws -> String {
        guard args.isEmpty else { throw CommandError("tree takes no argument") }
        let step = try lastStepView()
        return TextTrace(color: color, width: width).step(step, markRepeats: true).trimmingCharacters(in: .newlines)
    }

    func textCommand(_ args: [String]) throws -> String {
        guard args.isEmpty else { throw CommandError("text takes no argument") }
        let tokenizer = workbench.tokenizer
        let lastCount = session.steps.last?.emitted.count ?? 0
        let before = Array(session.tokens.dropLast(lastCount))
        let prompt = tokenizer.decode(session.prompt, after: -1)
        let middle = tokenizer.decode(before, after: session.prompt.last ?? 1)
        let recent = tokenizer.decode(Array(session.tokens.suffix(lastCount)), after: before.last ?? session.prompt.last ?? 1)
        return prompt + middle + (lastCount > 0 ? "[" + recent + "]" : "")
    }

    func statsCommand(_ args: [String]) throws -> String {
        guard args.isEmpty else { throw CommandError("stats takes no argument") }
        let steps = session.steps
        guard !steps.isEmpty else { return "no step yet: type step" }
        var lines = [String(format: "%d steps, %d tokens: tau %.2f (tokens per step, the root/bonus included)", steps.count, session.tokens.count, session.meanAcceptance)]
        let maxDepth = steps.map { $0.nodes.map(\.depth).max() ?? 0 }.max() ?? 0
        if maxDepth > 0 {
            lines.append("acceptance per depth (steps whose accepted path reaches depth d, among steps that drafted depth d):")
            for d in 1...maxDepth {
                let drafted = steps.filter { $0.nodes.contains { $0.depth == d } }
                let reached = drafted.filter { $0.acceptedPath.count > d }
                let rate = drafted.isEmpty ? 0 : Double(reached.count) / Double(drafted.count)
                lines.append(String(format: "  depth %d: %3d of %3d  %5.1f %%  ", d, reached.count, drafted.count, 100 * rate) + bar(rate, 30))
            }
        }
        lines.append("tokens per step:")
        let most = steps.map(\.acceptance).max() ?? 1
        for k in 0...most {
            let n = steps.filter { $0.acceptance == k }.count
            if n == 0 && k == 0 { continue }
            lines.append(String(format: "  %2d: %4d  ", k, n) + bar(Double(n) / Double(steps.count), 40))
        }
        return lines.joined(separator: "\n")
    }

    func bar(_ fraction: Double, _ width: Int) -> String {
        let f = max(0, min(1, fraction.isFinite ? fraction : 0))
        return String(repeating: "█", count: Int((f * Double(width)).rounded()))
    }

    func displayCommand(_ args: [String]) throws -> String {
        if args.isEmpty { return try showCommand(["displays"]) }
        var added: [String] = []
        for word in args {
            guard Self.displayable.contains(word) else {
                throw CommandError("cannot display '\(word)': choose from \(Self.displayable.joined(separator: ", "))")
            }
            if !displays.contains(word) { displays.append(word); added.append(word) }
        }
        return "displaying after every step: \(displays.joined(separator: ", "))"
    }

    func undisplayCommand(_ args: [String]) throws -> String {
        if args.isEmpty { displays.removeAll(); return "no displays" }
        for word in args {
            guard let i = displays.firstIndex(of: word) else { throw CommandError("'\(word)' is not displayed (displays: \(displays.isEmpty ? "none" : displays.joined(separator: ", ")))") }
            displays.remove(at: i)
        }
        return displays.isEmpty ? "no displays" : "displaying: \(displays.joined(separator: ", "))"
    }

    func displayOutputs() -> [String] {
        displays.map { what in
            let reply = execute(what)
            return reply.text
        }
    }

    // MARK: Settings

    func setCommand(_ args: [String]) throws -> String {
        guard args.count >= 2 else { throw CommandError("set takes a setting and a value: set \(Self.settingNames.joined(separator: "|")) VALUE") }
        let name = args[0].lowercased(), value = args.dropFirst().joined(separator: " ")
        var new = spec
        func number(_ text: String) throws -> Float {
            guard let x = Float(text), x.isFinite else { throw CommandError("set \(name) takes a number, got '\(text)'") }
            return x
        }
        switch name {
        case "decoder":
            new.decoder = try DecoderKind.parse(value)
            if new.decoder != spec.decoder { new.heads = nil }
        case "heads": new.heads = value == "default" ? nil : value
        case "tree": new.tree = value
        case "rule":
            guard let rule = RuleKind(rawValue: value.lowercased()) else { throw CommandError("unknown rule '\(value)' (greedy, typical, sample)") }
            new.rule = rule
            if rule == .greedy { new.temperature = nil }
        case "temperature":
            let t = try number(value)
            new.temperature = t == 0 ? nil : t
            if t == 0 && new.rule == .sample { new.rule = .greedy }
        case "top-p": new.topP = try number(value)
        case "eps": new.eps = try number(value)
        case "delta": new.delta = try number(value)
        case "head-precision":
            guard let p = WeightPrecision(rawValue: value.lowercased()) else { throw CommandError("set head-precision takes f16 or f32, got '\(value)'") }
            new.headPrecision = p
        case "seed":
            guard let s = UInt64(value) else { throw CommandError("set seed takes a whole number >= 0, got '\(value)'") }
            seed = s
            session.reseed(s)
            return "seed \(s) from here on"
        default:
            let near = Suggestions.nearest(name, among: Self.settingNames)
            throw CommandError("unknown setting '\(args[0])' (\(Self.settingNames.joined(separator: ", ")))" + (near.isEmpty ? "" : "; did you mean '\(near[0])'?"))
        }
        do {
            try new.validate()
            let drafter = try workbench.drafter(new)
            session.drafter = drafter
            spec = new
        } catch let error as DecoderSpecError {
            throw CommandError(error.problem)
        }
        return "from step \(session.position + 1): \(spec.description)"
    }

    func showCommand(_ args: [String]) throws -> String {
        let what = args.first ?? "settings"
        switch what {
        case "settings", "setting", "s":
            var lines = [
                "model        \(workbench.modelName)",
                "decoder      \(spec.decoder.rawValue)",
                "heads        \(session.drafter.headsPath.map { URL(fileURLWithPath: $0).lastPathComponent + " (\(spec.headPrecision.rawValue) while drafting)" } ?? "none")",
                "tree         \(spec.decoder == .ar ? "none (one token per step)" : "\(spec.tree) (\(TreeSize.describe(nodes: session.drafter.proposer.maxNodeCount)) at most)")",
                "rule         \(spec.ruleDescription)",
                "seed         \(seed)",
                "prompt       \(TokenText.quoted(promptText)) (\(session.prompt.count) tokens)",
                "position     \(session.position == 0 ? "the start" : "after step \(session.position)")\(session.future.isEmpty ? "" : " (\(session.future.count) later steps reachable with goto)")",
            ]
            if !displays.isEmpty { lines.append("display      \(displays.joined(separator: ", "))") }
            return lines.joined(separator: "\n")
        case "breakpoints", "break", "b":
            if breakpoints.isEmpty { return "no breakpoints" }
            return breakpoints.map { "\($0.id)  \($0.condition.description)" }.joined(separator: "\n")
        case "displays", "display":
            return displays.isEmpty ? "no displays" : "displaying: \(displays.joined(separator: ", "))"
        default:
            throw CommandError("show takes settings, breakpoints or displays, got '\(what)'")
        }
    }

    func helpCommand(_ args: [String]) throws -> String {
        if let word = args.first {
            switch Self.resolve(word) {
            case .found(let c):
                let aliases = c.aliases.isEmpty ? "" : " (aliases: \(c.aliases.joined(separator: ", ")))"
                var text = "\(c.usage)\(aliases)\n  \(c.summary)"
                if c.name == "set" {
                    text += "\n  decoders: \(DecoderKind.allCases.map(\.rawValue).joined(separator: ", ")); rules: greedy, typical, sample"
                    text += "\n  trees: \(workbench.treeNames.joined(separator: ", ")), chain-N, dynamic:N[:W], or a JSON file"
                }
                return text
            case .ambiguous(let names): throw CommandError("'\(word)' is ambiguous: \(names.joined(separator: ", "))")
            case .unknown(let near): throw CommandError("no command '\(word)'" + (near.isEmpty ? "" : "; did you mean '\(near[0])'?"))
            }
        }
        var lines = ["Commands (a unique prefix is enough; Enter repeats step/back/goto/continue):"]
        for c in Self.commands {
            let usage = c.usage.count > 26 ? c.usage.components(separatedBy: " ").first! + " …" : c.usage
            lines += wrap("  " + usage.padding(toLength: 18, withPad: " ", startingAt: 0) + " " + c.summary, indent: 21)
        }
        lines.append("help COMMAND for one command in full.")
        return lines.joined(separator: "\n")
    }
}

extension DecodingSession {
    /// The number of a step in the session's history, checked.
    func checkedStep(_ k: Int) throws -> StepRecord {
        guard k >= 1 && k <= steps.count else { throw CommandError("step \(k) is not in the history (1...\(steps.count))") }
        return steps[k - 1]
    }
}
