import Foundation
import REPL

/// The verdict on a typed answer.
public enum CheckResult: Equatable, Sendable {
    case correct
    case incorrect
    /// The answer is not of the expected form (one line naming the form).
    case malformed(String)

    /// The CLI's exit code: 0 correct, 1 incorrect, 2 malformed.
    public var exitCode: Int32 {
        switch self {
        case .correct: 0
        case .incorrect: 1
        case .malformed: 2
        }
    }
}

/// Parses typed answers by kind and compares them with computed values.
public enum AnswerChecker {
    /// Checks `typed` against `expected` for `exercise`.
    public static func check(_ typed: String, against expected: AnswerValue, for exercise: Exercise) -> CheckResult {
        let text = typed.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { return .malformed("the answer is empty: expected \(form(exercise))") }
        switch exercise.kind {
        case .integer:
            guard let n = Int(text) else { return .malformed("'\(text)' is not \(form(exercise))") }
            guard let x = expected.number else { return .incorrect }
            return Double(n) == x ? .correct : .incorrect
        case .number:
            guard let x = number(text) else { return .malformed("'\(text)' is not \(form(exercise))") }
            guard let y = expected.number else { return .incorrect }
            return abs(x - y) <= (exercise.tolerance ?? 0.005) ? .correct : .incorrect
        case .token:
            return normalize(text) == normalize(expected.typed) ? .correct : .incorrect
        case .choice:
            let choices = exercise.choices ?? []
            guard let picked = choices.first(where: { $0.lowercased() == text.lowercased() }) else {
                return .malformed("'\(text)' is not one of the choices: \(choices.joined(separator: ", "))")
            }
            return picked.lowercased() == expected.typed.lowercased() ? .correct : .incorrect
        case .yesNo:
            guard let b = yesNo(text) else { return .malformed("'\(text)' is not yes or no") }
            return .yesNo(b) == expected ? .correct : .incorrect
        case .paths:
            guard let ps = paths(text) else { return .malformed("'\(text)' is not \(form(exercise))") }
            guard case .paths(let want) = expected else { return .incorrect }
            return Set(ps) == Set(want) && ps.count == want.count ? .correct : .incorrect
        case .nodes:
            guard let ns = nodes(text) else { return .malformed("'\(text)' is not \(form(exercise))") }
            guard case .nodes(let want) = expected else { return .incorrect }
            return Set(ns) == Set(want) ? .correct : .incorrect
        }
    }

    /// The expected form, in words.
    public static func form(_ exercise: Exercise) -> String {
        exercise.kind == .choice ? "one of: \((exercise.choices ?? []).joined(separator: ", "))" : exercise.kind.form
    }

    /// A number: decimal, `a/b`, or a percentage.
    static func number(_ text: String) -> Double? {
        if text.hasSuffix("%"), let x = Double(text.dropLast()), x.isFinite { return x / 100 }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        if parts.count == 2, let a = Double(parts[0].trimmingCharacters(in: .whitespaces)), let b = Double(parts[1].trimmingCharacters(in: .whitespaces)), b != 0 {
            return a / b
        }
        guard let x = Double(text), x.isFinite else { return nil }
        return x
    }

    static func yesNo(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "yes", "y", "true": true
        case "no", "n", "false": false
        default: nil
        }
    }

    /// Rank paths such as `0.1 1` or `[0,1] [1]`.
    static func paths(_ text: String) -> [[Int]]? {
        let cleaned = text.replacingOccurrences(of: "] [", with: " ").replacingOccurrences(of: "],[", with: " ")
            .replacingOccurrences(of: "[", with: "").replacingOccurrences(of: "]", with: "")
        let words = cleaned.contains(" ") ? cleaned.split(separator: " ") : [Substring(cleaned)]
        var out: [[Int]] = []
        for word in words {
            let ranks = word.split(whereSeparator: { $0 == "." || $0 == "," }).map { Int($0) }
            guard !ranks.isEmpty, ranks.allSatisfy({ $0 != nil && $0! >= 0 }) else { return nil }
            out.append(ranks.map { $0! })
        }
        return out.isEmpty ? nil : out
    }

    /// Node indices such as `0 1 4` or `0,1,4` (braces allowed).
    static func nodes(_ text: String) -> [Int]? {
        let words = text.split(whereSeparator: { " ,{}[]".contains($0) })
        let ns = words.map { Int($0) }
        guard !ns.isEmpty, ns.allSatisfy({ $0 != nil && $0! >= 0 }) else { return nil }
        return ns.map { $0! }
    }

    /// Token text as compared: quotes and the pictures' `␣` removed, outer spaces trimmed, runs of spaces as one.
    static func normalize(_ text: String) -> String {
        var t = text.trimmingCharacters(in: .whitespaces)
        if t.count >= 2, t.hasPrefix("\""), t.hasSuffix("\"") { t = String(t.dropFirst().dropLast()) }
        t = t.replacingOccurrences(of: "␣", with: " ")
        return t.split(separator: " ").joined(separator: " ")
    }

    /// A plausible wrong answer to `expected` (for the author check): off by one, another path or node, the other
    /// choice, a nearby number.
    public static func plausibleWrong(_ expected: AnswerValue, for exercise: Exercise) -> String {
        switch exercise.kind {
        case .integer: return String(Int(expected.number ?? 0) + 1)
        case .number:
            let x = expected.number ?? 0
            return AnswerValue.format(x + max(10 * (exercise.tolerance ?? 0.005), 0.1 * abs(x), 0.05))
        case .token: return expected.typed == "the" ? "a" : "the"
        case .choice: return (exercise.choices ?? []).first { $0.lowercased() != expected.typed.lowercased() } ?? "?"
        case .yesNo: return expected == .yesNo(true) ? "no" : "yes"
        case .paths:
            guard case .paths(var ps) = expected, !ps.isEmpty, !ps[0].isEmpty else { return "0" }
            ps[0][ps[0].count - 1] += 1
            return AnswerValue.paths(ps).typed
        case .nodes:
            guard case .nodes(let ns) = expected else { return "0" }
            return AnswerValue.nodes(ns + [(ns.max() ?? 0) + 1]).typed
        }
    }
}
