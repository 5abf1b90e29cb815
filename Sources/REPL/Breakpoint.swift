import Speculation
import Visualization

/// A condition that stops `continue` (and `step N`) after a step.
enum Breakpoint: CustomStringConvertible {
    /// The step's tau compared with a number.
    case tau(String, Int)
    /// The step emitted a token whose text is this.
    case token(String)
    /// Head K's guess below the accepted path was drafted and rejected (the accepted path stopped before depth K).
    case rejected(Int)
    /// The step with this number.
    case step(Int)

    static let operators = ["<=", ">=", "==", "<", ">", "="]

    static func parse(_ args: [String], workbench: Workbench) throws -> Breakpoint {
        let text = args.joined(separator: " ")
        let usage = "break takes tau<N (or <=, >, >=, ==), token \"TEXT\", rejected K or step N"
        if text.lowercased().hasPrefix("tau") {
            let rest = text.dropFirst(3).trimmingCharacters(in: .whitespaces)
            for op in operators where rest.hasPrefix(op) {
                let number = rest.dropFirst(op.count).trimmingCharacters(in: .whitespaces)
                guard let n = Int(number), n >= 0 else { throw CommandError("break tau\(op)N takes a whole number, got '\(number)'") }
                return .tau(op == "=" ? "==" : op, n)
            }
            throw CommandError(usage)
        }
        guard args.count >= 2 else { throw CommandError(usage) }
        switch args[0].lowercased() {
        case "token":
            let piece = args.dropFirst().joined(separator: " ")
            let known = (0..<workbench.tokenizer.vocabularySize).contains { workbench.tokenizer.pieceText($0) == piece }
            guard known else { throw CommandError("no token has the text \(TokenText.quoted(piece)): this breakpoint would never fire") }
            return .token(piece)
        case "rejected":
            guard args.count == 2, let k = Int(args[1]), k >= 1 else { throw CommandError("break rejected K takes a head number K >= 1") }
            return .rejected(k)
        case "step":
            guard args.count == 2, let k = Int(args[1]), k >= 1 else { throw CommandError("break step N takes a step number >= 1") }
            return .step(k)
        default:
            throw CommandError(usage)
        }
    }

    func fires(_ record: StepRecord, workbench: Workbench) -> Bool {
        switch self {
        case .tau(let op, let n):
            let t = record.acceptance
            switch op {
            case "<": return t < n
            case "<=": return t <= n
            case ">": return t > n
            case ">=": return t >= n
            default: return t == n
            }
        case .token(let piece):
            return record.emitted.contains { workbench.tokenizer.pieceText($0) == piece }
        case .rejected(let k):
            guard record.acceptedPath.count == k else { return false }   // the path stopped at depth k - 1
            let last = record.acceptedPath.last!
            return record.nodes.contains { $0.parent == last && $0.depth == k && $0.outcome == .rejected }
        case .step(let k):
            return record.step == k
        }
    }

    var description: String {
        switch self {
        case .tau(let op, let n): "tau\(op)\(n)"
        case .token(let piece): "token \(TokenText.quoted(piece))"
        case .rejected(let k): "rejected \(k) (head \(k)'s guess rejected)"
        case .step(let k): "step \(k)"
        }
    }
}

