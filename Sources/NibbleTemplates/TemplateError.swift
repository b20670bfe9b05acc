/// Why a template could not be parsed or rendered. The message reads like jinja2's (`TypeError: …`).
public enum TemplateError: Error, Equatable, CustomStringConvertible {
    /// The template text is not valid Jinja.
    case syntax(String, line: Int)
    /// Rendering failed (a type error, an undefined value used, …).
    case runtime(String)
    /// The template called `raise_exception(message)`.
    case raised(String)
    /// A limit on loops, recursion or output size was reached.
    case limit(String)

    public var description: String {
        switch self {
        case .syntax(let m, let line): return "TemplateSyntaxError: \(m) (line \(line))"
        case .runtime(let m): return m
        case .raised(let m): return "TemplateError: \(m)"
        case .limit(let m): return "TemplateLimitError: \(m)"
        }
    }

    static func type(_ message: String) -> TemplateError { .runtime("TypeError: " + message) }
}
