import Testing
@testable import NibbleGrammar

/// Whether a GBNF grammar accepts exactly `text` (all bytes, then the end).
func matches(_ grammar: Grammar, _ text: String) -> Bool {
    var m = GrammarMatcher(grammar: grammar)
    return m.accept(bytes: Array(text.utf8)) && m.canEnd
}

@Suite struct GBNFParserTests {
    @Test func literalsAlternativesAndGroups() throws {
        let g = try Grammar(gbnf: #"""
        # a comment
        root ::= "a" ("b" | "cd")* tail   # trailing comment
        tail ::= "!" |
                 "?"
        """#)
        #expect(matches(g, "a!"))
        #expect(matches(g, "abcdb?"))
        #expect(!matches(g, "ab"))
        #expect(!matches(g, "ac!"))
    }

    @Test func repetitionCounts() throws {
        let g = try Grammar(gbnf: #"root ::= "x"{2} "y"{1,} "z"{0,2} [0-9]{2,3}"#)
        #expect(matches(g, "xxy12"))
        #expect(matches(g, "xxyyyzz123"))
        #expect(!matches(g, "xy12"))
        #expect(!matches(g, "xxyzzz12"))
        #expect(!matches(g, "xxy1234"))
        #expect(!matches(g, "xxy1"))
    }

    @Test func classesEscapesAndUnicode() throws {
        let g = try Grammar(gbnf: #"root ::= [^a-z\n] [\x41-\x43] "\u00e9" [ぁ-ゟ] "\U0001F600" "\t\\\"" ."#)
        #expect(matches(g, "1Béあ😀\t\\\"é"))
        #expect(matches(g, "ZAéゟ😀\t\\\"x"))
        #expect(!matches(g, "aAéあ😀\t\\\"x"))
        #expect(!matches(g, "\nAéあ😀\t\\\"x"))
        #expect(!matches(g, "1Déあ😀\t\\\"x"))
        // A negated class matches whole UTF-8 sequences, never a lone continuation byte.
        var m = GrammarMatcher(grammar: try Grammar(gbnf: "root ::= [^a]"))
        let continuationAllowed = m.allows(0x80)
        #expect(!continuationAllowed)
        let accepted = m.accept(bytes: Array("€".utf8))
        #expect(accepted && m.canEnd)
    }

    @Test func rightRecursionAndNullableRules() throws {
        let g = try Grammar(gbnf: """
        root ::= list
        list ::= item ("," item)*
        item ::= opt "i"
        opt ::= "o"?
        """)
        #expect(matches(g, "i,oi,i"))
        #expect(!matches(g, "i,"))
    }

    @Test(arguments: [
        ("root ::= foo", "GBNF: undefined rule \"foo\" referenced at line 1, column 10"),
        ("a ::= \"x\"", "GBNF: grammar has no \"root\" rule"),
        ("root ::= expr\nexpr ::= expr \"+\" \"1\" | \"1\"",
         "GBNF: rule \"expr\" (line 2, column 1) is left-recursive: it can reach itself without matching a character"),
        ("root ::= a\na ::= \"x\"? root",
         "GBNF: rule \"root\" (line 1, column 1) is left-recursive: it can reach itself without matching a character"),
        ("root ::= (\"x\"?)*",
         "GBNF: rule \"root\" (line 1, column 1) is left-recursive: it can reach itself without matching a character"),
        ("root ::= \"abc", "GBNF syntax error at line 1, column 10: unterminated string literal"),
        ("root ::= [a-", "GBNF syntax error at line 1, column 10: unterminated character class"),
        ("root ::= [z-a]", "GBNF syntax error at line 1, column 13: character range is reversed"),
        ("root ::= \"\\q\"", "GBNF syntax error at line 1, column 11: unknown escape \"\\q\""),
        ("root ::= \"\\x4\"", "GBNF syntax error at line 1, column 11: expected 2 hex digits in escape"),
        ("root ::= \"\\uD800\"", "GBNF syntax error at line 1, column 11: escape is not a Unicode scalar value"),
        ("root ::= \"a\"{3,1}", "GBNF syntax error at line 1, column 13: repetition {3,1} has its maximum below its minimum"),
        ("root ::= (\"a\"", "GBNF syntax error at line 1, column 14: expected \")\", found end of input"),
        ("root = \"a\"", "GBNF syntax error at line 1, column 6: expected \"::=\" after rule name \"root\", found \"=\""),
        ("root ::= \"a\" )", "GBNF syntax error at line 1, column 14: unexpected \")\" in rule \"root\""),
        ("root ::= \"a\"\nroot ::= \"b\"", "GBNF: rule \"root\" defined twice (second definition at line 2, column 1)"),
        ("root ::= \"a\"{2000000}", "GBNF syntax error at line 1, column 14: repetition count too large"),
        ("root ::= [a-z]{300000}",
         "grammar too large: more than 400000 grammar elements after expanding repetitions"),
    ])
    func invalidGrammars(source: String, message: String) {
        #expect(throws: GrammarError.self) { try Grammar(gbnf: source) }
        do {
            _ = try Grammar(gbnf: source)
        } catch {
            #expect("\(error)" == message)
        }
    }
}
