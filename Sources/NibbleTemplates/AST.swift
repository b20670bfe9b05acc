/// An argument in a call, filter or test.
enum Argument {
    case positional(Expr)
    case keyword(String, Expr)
}

/// An expression.
indirect enum Expr {
    case literal(Value)
    case name(String)
    case list([Expr])
    /// A tuple literal: `(a, b)`, `(a,)`, `()`, or bare `a, b`.
    case tupleLiteral([Expr])
    case dict([(Expr, Expr)])
    case attribute(Expr, String)
    case item(Expr, Expr)
    case slice(Expr, Expr?, Expr?, Expr?)
    case call(Expr, [Argument])
    case filter(Expr, String, [Argument])
    case test(Expr, String, [Argument], negated: Bool)
    case not(Expr)
    case negate(Expr)
    case plus(Expr)
    case binary(String, Expr, Expr)
    case and(Expr, Expr)
    case or(Expr, Expr)
    case compare(Expr, [(String, Expr)])
    case conditional(Expr, then: Expr, otherwise: Expr?)
}

/// Where `set` and `for` store values.
enum Target {
    case name(String)
    case tuple([String])
    case attribute(String, String)
}

/// A filter applied by `{% filter %}` or a block `{% set x | f %}`.
struct FilterCall {
    let name: String
    let arguments: [Argument]
}

/// A template statement.
indirect enum Node {
    case text(String)
    case output(Expr)
    case ifChain([(Expr, [Node])], otherwise: [Node])
    case forLoop(Target, Expr, condition: Expr?, body: [Node], otherwise: [Node])
    case set(Target, Expr)
    case setBlock(Target, [FilterCall], [Node])
    case macro(String, [(String, Expr?)], [Node])
    case callBlock(Expr, [(String, Expr?)], [Node])
    case filterBlock([FilterCall], [Node])
    case breakLoop
    case continueLoop
}
