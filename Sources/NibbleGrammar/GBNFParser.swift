/// Parses llama.cpp's GBNF: `name ::= alternatives` rules, `|`, sequences, `( )` groups, `* + ? {m} {m,} {m,n}`,
/// string literals, `[...]` classes with ranges and `^` negation, `.`, escapes `\xHH \uHHHH \UHHHHHHHH \t \n \r
/// \\ \" \[ \] \-`, `#` comments. A newline ends a rule except inside parentheses or after `|`.
struct GBNFParser {
    private let text: [Unicode.Scalar]
    private var pos = 0
    /// Bound on nesting of groups, so hostile input cannot exhaust the call stack.
    private static let maxNesting = 200
    private var nesting = 0

    init(_ source: String) {
        text = Array(source.unicodeScalars)
    }

    static func parse(_ source: String) throws -> GBNFSyntax {
        var parser = GBNFParser(source)
        return try parser.parseGrammar()
    }

    // MARK: - Locations and errors

    private func location(_ at: Int) -> GBNFSyntax.Location {
        var line = 1, column = 1
        for i in 0..<min(at, text.count) {
            if text[i] == "\n" { line += 1; column = 1 } else { column += 1 }
        }
        return .init(line: line, column: column)
    }

    private func fail(_ message: String, at: Int? = nil) -> GrammarError {
        let loc = location(at ?? pos)
        return .syntax(message, line: loc.line, column: loc.column)
    }

    private var current: Unicode.Scalar? { pos < text.count ? text[pos] : nil }

    private func describe(_ c: Unicode.Scalar?) -> String {
        guard let c else { return "end of input" }
        if c == "\n" { return "newline" }
        return "\"\(Character(c))\""
    }

    // MARK: - Grammar

    private mutating func parseGrammar() throws -> GBNFSyntax {
        var rules: [GBNFSyntax.Rule] = []
        var seen: Set<String> = []
        skipSpace(newlines: true)
        while pos < text.count {
            let start = pos
            let name = try parseName()
            if !seen.insert(name).inserted {
                let loc = location(start)
                throw GrammarError.duplicateRule(name, line: loc.line, column: loc.column)
            }
            skipSpace(newlines: false)
            guard match("::=") else { throw fail("expected \"::=\" after rule name \"\(name)\", found \(describe(current))") }
            skipSpace(newlines: true)
            let body = try parseAlternatives(nested: false)
            if let c = current, c != "\n", c != "\r" {
                throw fail("unexpected \(describe(c)) in rule \"\(name)\"")
            }
            rules.append(.init(name: name, body: body, location: location(start)))
            skipSpace(newlines: true)
        }
        guard seen.contains("root") else { throw GrammarError.missingRoot }
        return GBNFSyntax(rules: rules)
    }

    private static func isWordChar(_ c: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(c) || ("A"..."Z").contains(c) || ("0"..."9").contains(c) || c == "-" || c == "_"
    }

    private mutating func parseName() throws -> String {
        let start = pos
        while let c = current, Self.isWordChar(c) { pos += 1 }
        guard pos > start else { throw fail("expected a rule name, found \(describe(current))") }
        return String(String.UnicodeScalarView(text[start..<pos]))
    }

    private mutating func match(_ s: String) -> Bool {
        let scalars = Array(s.unicodeScalars)
        guard pos + scalars.count <= text.count, Array(text[pos..<pos + scalars.count]) == scalars else { return false }
        pos += scalars.count
        return true
    }

    /// Skips blanks and comments; newlines too when `newlines`.
    private mutating func skipSpace(newlines: Bool) {
        while let c = current {
            if c == " " || c == "\t" {
                pos += 1
            } else if c == "#" {
                while let d = current, d != "\n" { pos += 1 }
            } else if newlines && (c == "\n" || c == "\r") {
                pos += 1
            } else {
                return
            }
        }
    }

    // MARK: - Expressions

    private mutating func parseAlternatives(nested: Bool) throws -> GBNFSyntax.Expr {
        var alternatives = [try parseSequence(nested: nested)]
        while current == "|" {
            pos += 1
            skipSpace(newlines: true)
            alternatives.append(try parseSequence(nested: nested))
        }
        return alternatives.count == 1 ? alternatives[0] : .alternatives(alternatives)
    }

    private mutating func parseSequence(nested: Bool) throws -> GBNFSyntax.Expr {
        var items: [GBNFSyntax.Expr] = []
        while let c = current {
            let start = pos
            var item: GBNFSyntax.Expr
            if c == "\"" {
                pos += 1
                var scalars: [UInt32] = []
                while current != "\"" {
                    guard current != nil, current != "\n" else { throw fail("unterminated string literal", at: start) }
                    scalars.append(try parseChar())
                }
                pos += 1
                item = .literal(scalars)
            } else if c == "[" {
                item = try parseClass()
            } else if c == "." {
                pos += 1
                item = .anyChar
            } else if c == "(" {
                pos += 1
                nesting += 1
                guard nesting <= Self.maxNesting else { throw fail("groups nested more than \(Self.maxNesting) deep") }
                skipSpace(newlines: true)
                item = try parseAlternatives(nested: true)
                guard current == ")" else { throw fail("expected \")\", found \(describe(current))") }
                pos += 1
                nesting -= 1
            } else if Self.isWordChar(c) {
                let name = try parseName()
                // A name followed by `::=` starts the next rule (only reachable when a rule body was empty).
                let save = pos
                skipSpace(newlines: false)
                if match("::=") {
                    throw fail("rule \"\(name)\" starts before the previous rule ends (missing newline?)", at: start)
                }
                pos = save
                item = .ruleRef(name, location(start))
            } else {
                break
            }
            skipSpace(newlines: nested)
            // Postfix operators, possibly stacked (`x?*` is legal, if odd).
            while let op = current, op == "*" || op == "+" || op == "?" || op == "{" {
                let opStart = pos
                pos += 1
                let loc = location(opStart)
                switch op {
                case "*": item = .repetition(item, min: 0, max: nil, loc)
                case "+": item = .repetition(item, min: 1, max: nil, loc)
                case "?": item = .repetition(item, min: 0, max: 1, loc)
                default:
                    skipSpace(newlines: false)
                    let low = try parseInt()
                    skipSpace(newlines: false)
                    var high: Int? = low
                    if current == "," {
                        pos += 1
                        skipSpace(newlines: false)
                        high = current == "}" ? nil : try parseInt()
                        skipSpace(newlines: false)
                    }
                    guard current == "}" else { throw fail("expected \"}\" in repetition, found \(describe(current))") }
                    pos += 1
                    if let high, high < low {
                        throw fail("repetition {\(low),\(high)} has its maximum below its minimum", at: opStart)
                    }
                    item = .repetition(item, min: low, max: high, loc)
                }
                skipSpace(newlines: nested)
            }
            items.append(item)
        }
        return items.count == 1 ? items[0] : .sequence(items)
    }

    private mutating func parseInt() throws -> Int {
        let start = pos
        var value = 0
        while let c = current, ("0"..."9").contains(c) {
            value = value * 10 + Int(c.value - 48)
            guard value <= 1_000_000 else { throw fail("repetition count too large", at: start) }
            pos += 1
        }
        guard pos > start else { throw fail("expected a number, found \(describe(current))") }
        return value
    }

    private mutating func parseClass() throws -> GBNFSyntax.Expr {
        let start = pos
        pos += 1
        var negated = false
        if current == "^" {
            negated = true
            pos += 1
        }
        var ranges: [ClosedRange<UInt32>] = []
        while current != "]" {
            guard current != nil else { throw fail("unterminated character class", at: start) }
            let low = try parseChar()
            var high = low
            if current == "-", pos + 1 < text.count, text[pos + 1] != "]" {
                pos += 1
                high = try parseChar()
                guard high >= low else { throw fail("character range is reversed", at: pos - 1) }
            }
            ranges.append(low...high)
        }
        pos += 1
        return .charClass(ranges, negated: negated)
    }

    /// One code point of a literal or class, with its escapes.
    private mutating func parseChar() throws -> UInt32 {
        guard let c = current else { throw fail("unexpected end of input") }
        let start = pos
        pos += 1
        guard c == "\\" else { return c.value }
        guard let e = current else { throw fail("unexpected end of input after \"\\\"") }
        pos += 1
        switch e {
        case "t": return 9
        case "n": return 10
        case "r": return 13
        case "\\", "\"", "[", "]", "-", "^": return e.value
        case "x": return try parseHex(2, start: start)
        case "u": return try parseHex(4, start: start)
        case "U": return try parseHex(8, start: start)
        default: throw fail("unknown escape \"\\\(Character(e))\"", at: start)
        }
    }

    private mutating func parseHex(_ digits: Int, start: Int) throws -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<digits {
            guard let c = current, let d = Self.hexValue(c) else {
                throw fail("expected \(digits) hex digits in escape", at: start)
            }
            value = value << 4 | d
            pos += 1
        }
        guard value <= 0x10FFFF, !(0xD800...0xDFFF).contains(value) else {
            throw fail("escape is not a Unicode scalar value", at: start)
        }
        return value
    }

    private static func hexValue(_ c: Unicode.Scalar) -> UInt32? {
        switch c {
        case "0"..."9": return c.value - 48
        case "a"..."f": return c.value - 87
        case "A"..."F": return c.value - 55
        default: return nil
        }
    }
}
