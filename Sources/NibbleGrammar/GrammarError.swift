/// Everything that can go wrong building or running a grammar; each message names what and where, so a server
/// can pass it on as a 400.
public enum GrammarError: Error, Equatable, CustomStringConvertible, Sendable {
    /// GBNF text that does not parse, at a 1-based line and column.
    case syntax(String, line: Int, column: Int)
    /// A rule referenced but never defined.
    case undefinedRule(String, line: Int, column: Int)
    /// A rule defined twice.
    case duplicateRule(String, line: Int, column: Int)
    /// No `root` rule.
    case missingRoot
    /// A rule that can reach itself without consuming a byte (so a matcher could never make progress).
    case leftRecursion(String, line: Int, column: Int)
    /// The grammar expands beyond the size limits (repetition counts, rule count, ambiguity).
    case tooLarge(String)
    /// A JSON Schema keyword Nibble cannot turn into a grammar, with the JSON pointer of the schema holding it.
    case unsupportedSchema(keyword: String, path: String, reason: String)
    /// A schema that is not valid JSON or not a valid schema.
    case invalidSchema(path: String, reason: String)
    /// The matcher exceeded its bound on simultaneous parse stacks or stack depth.
    case matcherLimit(String)
    /// A token the grammar does not allow was fed to `accept`.
    case tokenRejected(Int)

    public var description: String {
        switch self {
        case .syntax(let message, let line, let column):
            return "GBNF syntax error at line \(line), column \(column): \(message)"
        case .undefinedRule(let name, let line, let column):
            return "GBNF: undefined rule \"\(name)\" referenced at line \(line), column \(column)"
        case .duplicateRule(let name, let line, let column):
            return "GBNF: rule \"\(name)\" defined twice (second definition at line \(line), column \(column))"
        case .missingRoot:
            return "GBNF: grammar has no \"root\" rule"
        case .leftRecursion(let name, let line, let column):
            return "GBNF: rule \"\(name)\" (line \(line), column \(column)) is left-recursive: it can reach itself "
                + "without matching a character"
        case .tooLarge(let message):
            return "grammar too large: \(message)"
        case .unsupportedSchema(let keyword, let path, let reason):
            return "JSON Schema: unsupported \"\(keyword)\" at \(path.isEmpty ? "/" : path): \(reason)"
        case .invalidSchema(let path, let reason):
            return "JSON Schema: invalid schema at \(path.isEmpty ? "/" : path): \(reason)"
        case .matcherLimit(let message):
            return "grammar matcher limit: \(message)"
        case .tokenRejected(let id):
            return "grammar rejects token \(id)"
        }
    }
}
