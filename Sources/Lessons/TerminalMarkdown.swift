import Foundation

/// Renders the Markdown of a lesson for a terminal: headings underlined, emphasis marks dropped, paragraphs and list
/// items wrapped at `width`, code blocks indented as they are, tables with aligned columns.
public struct TerminalMarkdown {
    public var width: Int
    public init(width: Int = 80) { self.width = max(width, 20) }

    public func render(_ markdown: String) -> String {
        var out: [String] = []
        var paragraph: [String] = []
        var item: (marker: String, text: String)?
        var table: [[String]] = []
        var inCode = false
        func flushParagraph() {
            if let i = item { out += wrap(inline(i.text), indent: String(repeating: " ", count: i.marker.count + 2), first: "  " + i.marker) }
            item = nil
            if !paragraph.isEmpty { out += wrap(inline(paragraph.joined(separator: " ")), indent: "", first: "") }
            paragraph.removeAll()
        }
        func flushTable() {
            guard !table.isEmpty else { return }
            let columns = table.map(\.count).max() ?? 0
            let widths = (0..<columns).map { c in table.map { c < $0.count ? $0[c].count : 0 }.max() ?? 0 }
            for (r, row) in table.enumerated() {
                let cells = (0..<columns).map { c in (c < row.count ? row[c] : "").padding(toLength: widths[c], withPad: " ", startingAt: 0) }
                out.append(trimmedEnd(String(("  " + cells.joined(separator: "  ")).prefix(width))))
                if r == 0 { out.append(String(("  " + widths.map { String(repeating: "─", count: $0) }.joined(separator: "  ")).prefix(width))) }
            }
            table.removeAll()
        }
        for raw in markdown.components(separatedBy: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("```") {
                flushParagraph(); flushTable()
                inCode.toggle()
                continue
            }
            if inCode { out.append("    " + raw); continue }
            if line.hasPrefix("|") {
                flushParagraph()
                let cells = line.trimmingCharacters(in: CharacterSet(charactersIn: "|")).components(separatedBy: "|").map { inline($0.trimmingCharacters(in: .whitespaces)) }
                if !cells.allSatisfy({ $0.allSatisfy { "-: ".contains($0) } }) { table.append(cells) }
                continue
            }
            flushTable()
            if line.isEmpty { flushParagraph(); if out.last != "" { out.append("") }; continue }
            if line.hasPrefix("#") {
                flushParagraph()
                let level = line.prefix { $0 == "#" }.count
                let title = inline(line.drop { $0 == "#" }.trimmingCharacters(in: .whitespaces))
                out.append(level == 1 ? title.uppercased() : title)
                out.append(String(repeating: level == 1 ? "═" : "─", count: min(title.count, width)))
                continue
            }
            if let marker = listMarker(line) {
                flushParagraph()
                item = (marker, String(line.dropFirst(line.hasPrefix("- ") || line.hasPrefix("* ") ? 2 : marker.count)))
                continue
            }
            if item != nil {
                // A line right after a list item goes on with it (indented or not, as Markdown reads it).
                item!.text += " " + line
                continue
            }
            paragraph.append(line)
        }
        flushParagraph(); flushTable()
        return out.joined(separator: "\n").trimmingCharacters(in: .newlines)
    }

    func trimmedEnd(_ line: String) -> String {
        var l = line
        while l.last == " " { l.removeLast() }
        return l
    }

    /// `- `, `* `, or `1. ` at the start of a line.
    func listMarker(_ line: String) -> String? {
        if line.hasPrefix("- ") || line.hasPrefix("* ") { return "• " }
        let digits = line.prefix { $0.isNumber }
        if !digits.isEmpty, line.dropFirst(digits.count).hasPrefix(". ") { return "\(digits). " }
        return nil
    }

    /// Inline Markdown: `**strong**` and `*emphasis*` marks dropped, `` `code` `` kept as is, links as text (url).
    func inline(_ text: String) -> String {
        var t = text.replacingOccurrences(of: "**", with: "")
        t = t.replacingOccurrences(of: #"(?<![\w*])\*(?!\s)([^*]+?)\*(?!\w)"#, with: "$1", options: .regularExpression)
        t = t.replacingOccurrences(of: #"\[([^\]]+)\]\(([^)]+)\)"#, with: "$1 ($2)", options: .regularExpression)
        return t
    }

    /// Words wrapped at the width: the first line starts with `first`, the next ones with `indent`.
    func wrap(_ text: String, indent: String, first: String) -> [String] {
        var lines: [String] = []
        var current = first
        var empty = true
        for word in text.split(separator: " ") {
            if !empty && current.count + 1 + word.count > width {
                lines.append(current)
                current = indent
                empty = true
            }
            current += (empty ? "" : " ") + word
            empty = false
        }
        lines.append(current)
        return lines
    }
}
