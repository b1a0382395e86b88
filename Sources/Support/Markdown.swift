/// Text from users (a spec's description, names, file paths, error messages) made inert in
/// Markdown and in the HTML that Markdown renderers pass through.
public enum Markdown {
    /// For a paragraph or a table cell: `&`, `<` and `>` become entities (no tags, no autolinks,
    /// no entities of the user's), `|` and the characters that open emphasis, code, links and
    /// strikethrough are backslash-escaped, a line-start marker (`#`, `-`, `+`, `=`, `1.`) is too,
    /// and line breaks become spaces (one line: a table row or a paragraph stays whole).
    public static func inline(_ text: String) -> String {
        var out = ""
        for ch in text {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\\", "`", "*", "_", "[", "]", "|", "~": out += "\\" + String(ch)
            case "\n", "\r", "\t": out += " "
            default: out.append(ch)
            }
        }
        return escapingLineStart(out)
    }

    /// `#`, `-`, `+` or `=` first, or digits then `.` or `)`, would start a heading, a list or an
    /// underline: escape that character.
    static func escapingLineStart(_ s: String) -> String {
        guard let first = s.first else { return s }
        if "#-+=".contains(first) { return "\\" + s }
        let digits = s.prefix { $0.isASCII && $0.isNumber }
        if !digits.isEmpty, let next = s.dropFirst(digits.count).first, next == "." || next == ")" {
            return digits + "\\" + s.dropFirst(digits.count)
        }
        return s
    }

    /// An inline code span holding `text` verbatim, whatever backticks it contains (CommonMark:
    /// a fence longer than any run of backticks inside, padded with spaces when needed); line
    /// breaks become spaces.
    public static func code(_ text: String) -> String {
        var longest = 0
        var run = 0
        for ch in text {
            run = ch == "`" ? run + 1 : 0
            longest = max(longest, run)
        }
        let fence = String(repeating: "`", count: longest + 1)
        var body = String(text.map { $0 == "\n" || $0 == "\r" ? " " : $0 })
        if body.first == "`" || body.last == "`" { body = " " + body + " " }
        return fence + body + fence
    }
}
