/// A parsed GBNF grammar before lowering to bytes: rules over code points.
struct GBNFSyntax {
    /// A source location (1-based), for error messages.
    struct Location: Equatable, Sendable {
        var line: Int
        var column: Int
    }

    indirect enum Expr {
        /// Code points, matched as their UTF-8 bytes.
        case literal([UInt32])
        /// `[...]`: code point ranges, or their complement.
        case charClass([ClosedRange<UInt32>], negated: Bool)
        /// `.`: any code point.
        case anyChar
        case ruleRef(String, Location)
        case sequence([Expr])
        case alternatives([Expr])
        /// `x{min,max}`; `max == nil` is unbounded.
        case repetition(Expr, min: Int, max: Int?, Location)
    }

    struct Rule {
        var name: String
        var body: Expr
        var location: Location
    }

    var rules: [Rule]
}
