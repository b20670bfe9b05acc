import Foundation

/// A value a template computes with: the Python objects jinja2 templates see, reduced to what chat templates use.
public enum Value: Sendable {
    /// jinja2's default `Undefined`: prints as "", iterates as empty, is falsy; most other uses raise `message`.
    case undefined(String)
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case list([Value])
    /// A tuple (`(a, b)`, `dict.items()` pairs): a list that prints and compares as Python's tuple.
    case tuple([Value])
    case dict(OrderedDict)
    /// A mutable `namespace()` object (the one way a loop body can change state outside it).
    case namespace(Namespace)
    /// A macro, builtin function or bound method.
    case callable(Callable)

    /// An undefined value for a missing name.
    static func missing(_ name: String) -> Value { .undefined("'\(name)' is undefined") }

    /// Python truthiness.
    public var isTruthy: Bool {
        switch self {
        case .undefined, .none: return false
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .double(let d): return d != 0
        case .string(let s): return !s.isEmpty
        case .list(let l), .tuple(let l): return !l.isEmpty
        case .dict(let d): return !d.isEmpty
        case .namespace, .callable: return true
        }
    }

    /// Whether this is jinja2's `Undefined`.
    public var isUndefined: Bool { if case .undefined = self { return true } else { return false } }
    /// Whether this is Python's `None`.
    public var isNone: Bool { if case .none = self { return true } else { return false } }

    /// The Python type name, as error messages show it.
    var typeName: String {
        switch self {
        case .undefined: return "Undefined"
        case .none: return "NoneType"
        case .bool: return "bool"
        case .int: return "int"
        case .double: return "float"
        case .string: return "str"
        case .list: return "list"
        case .tuple: return "tuple"
        case .dict: return "dict"
        case .namespace: return "Namespace"
        case .callable: return "function"
        }
    }

    /// The items of a list or tuple.
    var sequenceItems: [Value]? {
        switch self {
        case .list(let l), .tuple(let l): return l
        default: return nil
        }
    }

    /// The string this value is as a Swift string, when it is one.
    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
}

/// An insertion-ordered string-keyed dictionary (Python dicts keep insertion order, and `tojson` shows it).
public struct OrderedDict: Sendable {
    public private(set) var keys: [String] = []
    private var storage: [String: Value] = [:]

    public init() {}
    public init(_ pairs: [(String, Value)]) { for (k, v) in pairs { self[k] = v } }

    public subscript(key: String) -> Value? {
        get { storage[key] }
        set {
            if let newValue {
                if storage.updateValue(newValue, forKey: key) == nil { keys.append(key) }
            } else if storage.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }

    public var count: Int { keys.count }
    public var isEmpty: Bool { keys.isEmpty }
    public var pairs: [(String, Value)] { keys.map { ($0, storage[$0] ?? .none) } }
    public var values: [Value] { keys.map { storage[$0] ?? .none } }
}

/// The object `namespace()` returns; reference semantics so assignments inside loops are seen after them.
public final class Namespace: @unchecked Sendable {
    var attributes: OrderedDict
    init(_ attributes: OrderedDict) { self.attributes = attributes }
}

/// Arguments of a call: positional, then keyword in source order.
struct Arguments {
    var positional: [Value] = []
    var keyword: [(String, Value)] = []

    /// The argument at `index` or named `name`, removing nothing; `nil` when absent.
    func value(_ index: Int, _ name: String) -> Value? {
        if let kw = keyword.first(where: { $0.0 == name }) { return kw.1 }
        return index >= 0 && index < positional.count ? positional[index] : nil
    }
}

/// Something a template can call.
public final class Callable: @unchecked Sendable {
    let name: String
    let body: (Arguments, Interpreter) throws -> Value
    init(_ name: String, _ body: @escaping (Arguments, Interpreter) throws -> Value) {
        self.name = name
        self.body = body
    }
}

// MARK: - Building values from Swift

// Deliberately not ExpressibleByNilLiteral: a `nil` meant as "no value" (`Value?`) would silently become
// Python's None.
extension Value: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: Value...) { self = .list(elements) }
    public init(dictionaryLiteral elements: (String, Value)...) { self = .dict(OrderedDict(elements)) }
}
