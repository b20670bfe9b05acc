import Foundation

/// Bounds that make a hostile template an error rather than a hang, a crash or unbounded memory.
public struct TemplateLimits: Sendable {
    /// Loop iterations, macro calls and filter applications over one render.
    public var maxOperations = 1_000_000
    /// Nesting of statements, expressions and macro calls (parse and render).
    public var maxDepth = 200
    /// Bytes of output, and of any one string a template builds.
    public var maxOutputBytes = 8 << 20
    /// Items in any one list a template builds.
    public var maxItems = 1_000_000
    /// Items `range()` may produce (jinja2's sandbox caps it at 100 000).
    public var maxRange = 100_000

    public init() {}
}

/// A parsed Jinja template, rendered the way transformers' `render_jinja_template` does (jinja2 sandbox,
/// `trim_blocks`, `lstrip_blocks`, its `tojson`, `raise_exception` and `strftime_now`).
public struct Template: Sendable {
    private let nodes: [NodeBox]
    public let limits: TemplateLimits

    /// Parses template text; a syntax error throws `TemplateError.syntax`.
    public init(_ source: String, limits: TemplateLimits = TemplateLimits()) throws {
        self.limits = limits
        nodes = try Parser.parse(source, maxDepth: limits.maxDepth).map(NodeBox.init)
    }

    /// Renders with the given variables. `now` is `strftime_now`'s clock, read in `timeZone`.
    ///
    /// Runs on its own thread with a large stack: a template can build values nested as deep as its operation
    /// limit allows, and printing, comparing and finally releasing them recurses once per level.
    public func render(_ variables: [String: Value], now: @escaping @Sendable () -> Date = { Date() },
                       timeZone: TimeZone = .current) throws -> String {
        let job = RenderJob(nodes: nodes, variables: variables, limits: limits, now: now, timeZone: timeZone)
        let thread = Thread { job.run() }
        thread.stackSize = Self.renderStackBytes
        thread.start()
        job.done.wait()
        return try job.result.get()
    }

    /// Stack reserved for a render (address space; pages are used only as deep as the render goes).
    static let renderStackBytes = 1 << 29
}

/// One render handed to its thread; `done` is signalled once `result` is set.
private final class RenderJob: @unchecked Sendable {
    let nodes: [NodeBox]
    let variables: [String: Value]
    let limits: TemplateLimits
    let now: @Sendable () -> Date
    let timeZone: TimeZone
    let done = DispatchSemaphore(value: 0)
    var result: Result<String, any Error> = .success("")

    init(nodes: [NodeBox], variables: [String: Value], limits: TemplateLimits, now: @escaping @Sendable () -> Date,
         timeZone: TimeZone) {
        self.nodes = nodes
        self.variables = variables
        self.limits = limits
        self.now = now
        self.timeZone = timeZone
    }

    func run() {
        // Everything the render builds is created and released inside this call, on the large stack.
        result = Result {
            let interp = Interpreter(limits: limits, now: now, timeZone: timeZone)
            let scope = Scope(parent: nil)
            scope.variables = variables
            return try interp.render(nodes.map(\.node), scope: scope)
        }
        done.signal()
    }
}

/// Parsed nodes hold only values and literals; they are never mutated after parsing.
private struct NodeBox: @unchecked Sendable {
    let node: Node
}
