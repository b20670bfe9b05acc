/// One lexical token of a template.
enum Token: Equatable {
    case text(String)
    case variableBegin, variableEnd, blockBegin, blockEnd
    case name(String)
    case string(String)
    case int(Int)
    case float(Double)
    case op(String)
    case eof
}

/// Splits template text into tokens, applying whitespace control: `-` on a tag, and `trim_blocks` plus
/// `lstrip_blocks` (both on, as transformers configures jinja2).
struct Lexer {
    private let bytes: [UInt8]
    private var i = 0
    private(set) var tokens: [(Token, Int)] = []
    private var line = 1

    static func tokenize(_ source: String) throws -> [(Token, Int)] {
        var lexer = Lexer(bytes: Array(source.utf8))
        try lexer.run()
        return lexer.tokens
    }

    private init(bytes: [UInt8]) { self.bytes = bytes }

    private func at(_ k: Int) -> UInt8 { k < bytes.count ? bytes[k] : 0 }
    private static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D || c == 0x0B || c == 0x0C }
    private func error(_ m: String) -> TemplateError { .syntax(m, line: line) }

    private mutating func emit(_ t: Token) { tokens.append((t, line)) }

    private mutating func emitText(_ range: Range<Int>) {
        guard !range.isEmpty else { return }
        let slice = bytes[range]
        emit(.text(String(decoding: slice, as: UTF8.self)))
        line += slice.lazy.filter { $0 == 0x0A }.count
    }

    private mutating func run() throws {
        var stripNext = false
        while i < bytes.count {
            var j = i
            while j + 1 < bytes.count, !(bytes[j] == UInt8(ascii: "{") && [UInt8(ascii: "{"), UInt8(ascii: "%"), UInt8(ascii: "#")].contains(bytes[j + 1])) {
                j += 1
            }
            let found = j + 1 < bytes.count
            let textEnd = found ? j : bytes.count
            var lo = i, hi = textEnd
            if stripNext { while lo < hi && Self.isSpace(bytes[lo]) { lo += 1 } }
            stripNext = false
            guard found else { emitText(lo..<hi); break }
            let kind = bytes[j + 1]
            var k = j + 2
            if at(k) == UInt8(ascii: "-") {
                while hi > lo && Self.isSpace(bytes[hi - 1]) { hi -= 1 }
                k += 1
            } else if at(k) == UInt8(ascii: "+") {
                k += 1
            } else if kind != UInt8(ascii: "{") {
                hi = lstripped(lo: lo, hi: hi)
            }
            emitText(lo..<hi)
            line += bytes[hi..<j].lazy.filter { $0 == 0x0A }.count
            if kind == UInt8(ascii: "#") {
                var e = k
                while e + 1 < bytes.count, !(bytes[e] == UInt8(ascii: "#") && bytes[e + 1] == UInt8(ascii: "}")) { e += 1 }
                guard e + 1 < bytes.count else { throw error("missing end of comment tag") }
                line += bytes[k..<e].lazy.filter { $0 == 0x0A }.count
                let dash = e > k && bytes[e - 1] == UInt8(ascii: "-")
                i = e + 2
                if dash { stripNext = true } else if at(i) == 0x0A { i += 1; line += 1 }
                continue
            }
            let isBlock = kind == UInt8(ascii: "%")
            if isBlock, let rawEnd = try rawBlock(from: k) {
                i = rawEnd
                continue
            }
            emit(isBlock ? .blockBegin : .variableBegin)
            i = k
            let (dash, plus) = try expressionTokens(closer: isBlock ? UInt8(ascii: "%") : UInt8(ascii: "}"))
            emit(isBlock ? .blockEnd : .variableEnd)
            if dash { stripNext = true } else if isBlock && !plus && at(i) == 0x0A { i += 1; line += 1 }
        }
        emit(.eof)
    }

    /// `lstrip_blocks`: spaces and tabs between a line start and a block or comment tag are removed.
    private func lstripped(lo: Int, hi: Int) -> Int {
        var s = hi
        while s > lo && (bytes[s - 1] == 0x20 || bytes[s - 1] == 0x09) { s -= 1 }
        if s > lo { return bytes[s - 1] == 0x0A ? s : hi }
        // The text is all blanks: strip only when it starts a line.
        return (lo == 0 || bytes[lo - 1] == 0x0A) ? s : hi
    }

    /// `{% raw %}…{% endraw %}`: returns the index after the end tag, or nil when the tag is not `raw`.
    private mutating func rawBlock(from k: Int) throws -> Int? {
        var p = k
        while Self.isSpace(at(p)) { p += 1 }
        guard Array(bytes[min(p, bytes.count)..<min(p + 3, bytes.count)]) == Array("raw".utf8) else { return nil }
        p += 3
        var q = p
        while Self.isSpace(at(q)) { q += 1 }
        var stripStart = false
        if at(q) == UInt8(ascii: "-") { stripStart = true; q += 1 }
        guard at(q) == UInt8(ascii: "%"), at(q + 1) == UInt8(ascii: "}") else { return nil }
        var bodyStart = q + 2
        if stripStart { while bodyStart < bytes.count && Self.isSpace(bytes[bodyStart]) { bodyStart += 1 } }
        var s = bodyStart
        while s + 1 < bytes.count {
            if bytes[s] == UInt8(ascii: "{"), bytes[s + 1] == UInt8(ascii: "%") {
                var t = s + 2
                var stripEnd = false
                if at(t) == UInt8(ascii: "-") { stripEnd = true; t += 1 } else if at(t) == UInt8(ascii: "+") { t += 1 }
                while Self.isSpace(at(t)) { t += 1 }
                if Array(bytes[t..<min(t + 6, bytes.count)]) == Array("endraw".utf8) {
                    t += 6
                    while Self.isSpace(at(t)) { t += 1 }
                    var dash = false
                    if at(t) == UInt8(ascii: "-") { dash = true; t += 1 }
                    guard at(t) == UInt8(ascii: "%"), at(t + 1) == UInt8(ascii: "}") else { throw error("malformed endraw") }
                    var hi = s
                    if stripEnd { while hi > bodyStart && Self.isSpace(bytes[hi - 1]) { hi -= 1 } }
                    emitText(bodyStart..<hi)
                    var end = t + 2
                    if dash { while end < bytes.count && Self.isSpace(bytes[end]) { end += 1 } } else if at(end) == 0x0A { end += 1 }
                    return end
                }
            }
            s += 1
        }
        throw error("missing endraw")
    }

    /// Tokens inside `{{ … }}` or `{% … %}` up to the closer; returns whether it ended with `-` or `+`.
    private mutating func expressionTokens(closer: UInt8) throws -> (dash: Bool, plus: Bool) {
        var brackets: [UInt8] = []
        while true {
            while i < bytes.count && Self.isSpace(bytes[i]) { if bytes[i] == 0x0A { line += 1 }; i += 1 }
            guard i < bytes.count else { throw error("unexpected end of template, expected the end of a tag") }
            let c = bytes[i]
            if brackets.isEmpty {
                if c == closer, at(i + 1) == UInt8(ascii: "}") { i += 2; return (false, false) }
                if (c == UInt8(ascii: "-") || c == UInt8(ascii: "+")), at(i + 1) == closer, at(i + 2) == UInt8(ascii: "}") {
                    i += 3
                    return (c == UInt8(ascii: "-"), c == UInt8(ascii: "+"))
                }
            }
            if Self.isIdentStart(c) {
                let s = i
                while i < bytes.count && (Self.isIdentStart(bytes[i]) || Self.isDigit(bytes[i])) { i += 1 }
                emit(.name(String(decoding: bytes[s..<i], as: UTF8.self)))
            } else if Self.isDigit(c) {
                try number()
            } else if c == UInt8(ascii: "'") || c == UInt8(ascii: "\"") {
                try stringLiteral(quote: c)
            } else {
                let three = String(decoding: bytes[i..<min(i + 3, bytes.count)], as: UTF8.self)
                let two = String(three.prefix(2))
                let ops2 = ["//", "**", "==", "!=", "<=", ">="]
                if ops2.contains(two) {
                    emit(.op(two)); i += 2
                } else if "+-*/%~<>=.,:|()[]{}".utf8.contains(c) {
                    switch c {
                    case UInt8(ascii: "("), UInt8(ascii: "["), UInt8(ascii: "{"): brackets.append(c)
                    case UInt8(ascii: ")"), UInt8(ascii: "]"), UInt8(ascii: "}"):
                        let open: UInt8 = c == UInt8(ascii: ")") ? UInt8(ascii: "(") : c == UInt8(ascii: "]") ? UInt8(ascii: "[") : UInt8(ascii: "{")
                        guard brackets.last == open else { throw error("unexpected '\(Character(Unicode.Scalar(c)))'") }
                        brackets.removeLast()
                    default: break
                    }
                    emit(.op(String(Character(Unicode.Scalar(c)))))
                    i += 1
                } else {
                    throw error("unexpected char '\(Character(Unicode.Scalar(c)))'")
                }
            }
        }
    }

    private static func isIdentStart(_ c: UInt8) -> Bool {
        (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) || c == UInt8(ascii: "_")
    }
    private static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }

    private mutating func number() throws {
        let s = i
        var isFloat = false
        while i < bytes.count && (Self.isDigit(bytes[i]) || bytes[i] == UInt8(ascii: "_")) { i += 1 }
        if at(i) == UInt8(ascii: "."), Self.isDigit(at(i + 1)) {
            isFloat = true
            i += 1
            while i < bytes.count && (Self.isDigit(bytes[i]) || bytes[i] == UInt8(ascii: "_")) { i += 1 }
        }
        if at(i) == UInt8(ascii: "e") || at(i) == UInt8(ascii: "E") {
            var p = i + 1
            if at(p) == UInt8(ascii: "+") || at(p) == UInt8(ascii: "-") { p += 1 }
            if Self.isDigit(at(p)) {
                isFloat = true
                i = p
                while i < bytes.count && Self.isDigit(bytes[i]) { i += 1 }
            }
        }
        let text = String(decoding: bytes[s..<i], as: UTF8.self).replacingOccurrences(of: "_", with: "")
        if !isFloat, let n = Int(text) { emit(.int(n)); return }
        guard let d = Double(text) else { throw error("invalid number '\(text)'") }
        emit(.float(d))
    }

    /// A string literal, unescaped by Python's `unicode-escape` rules (as jinja2 does).
    private mutating func stringLiteral(quote: UInt8) throws {
        i += 1
        var out = String.UnicodeScalarView()
        var raw: [UInt8] = []
        func flush() { out.append(contentsOf: String(decoding: raw, as: UTF8.self).unicodeScalars); raw.removeAll() }
        while i < bytes.count {
            let c = bytes[i]
            if c == quote { i += 1; flush(); emit(.string(String(out))); return }
            if c == 0x0A { line += 1 }
            if c != UInt8(ascii: "\\") { raw.append(c); i += 1; continue }
            flush()
            let e = at(i + 1)
            i += 2
            switch e {
            case UInt8(ascii: "n"): out.append("\n")
            case UInt8(ascii: "t"): out.append("\t")
            case UInt8(ascii: "r"): out.append("\r")
            case UInt8(ascii: "\\"): out.append("\\")
            case UInt8(ascii: "'"): out.append("'")
            case UInt8(ascii: "\""): out.append("\"")
            case UInt8(ascii: "a"): out.append("\u{07}")
            case UInt8(ascii: "b"): out.append("\u{08}")
            case UInt8(ascii: "f"): out.append("\u{0C}")
            case UInt8(ascii: "v"): out.append("\u{0B}")
            case 0x0A: line += 1  // an escaped newline continues the line
            case UInt8(ascii: "x"), UInt8(ascii: "u"), UInt8(ascii: "U"):
                let n = e == UInt8(ascii: "x") ? 2 : e == UInt8(ascii: "u") ? 4 : 8
                guard i + n <= bytes.count, let v = UInt32(String(decoding: bytes[i..<i + n], as: UTF8.self), radix: 16),
                      let scalar = Unicode.Scalar(v) else { throw error("invalid \\\(Character(Unicode.Scalar(e))) escape") }
                out.append(scalar)
                i += n
            case UInt8(ascii: "0")...UInt8(ascii: "7"):
                var v = UInt32(e - 0x30)
                var n = 1
                while n < 3, at(i) >= 0x30, at(i) <= 0x37 { v = v * 8 + UInt32(at(i) - 0x30); i += 1; n += 1 }
                out.append(Unicode.Scalar(v) ?? "\u{FFFD}")
            default:
                out.append("\\")
                i -= 1  // an unknown escape keeps its backslash and character
            }
        }
        throw error("unterminated string")
    }
}
