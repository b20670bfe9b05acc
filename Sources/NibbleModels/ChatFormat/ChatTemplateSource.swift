import Foundation
import NibbleTemplates

/// Template text read from one source: a single template, or named ones (`default`, `tool_use`, …).
public struct ChatTemplateTexts: Sendable, Equatable {
    /// Named templates in the order the source lists them; a single template is named `default`.
    public var named: [(name: String, text: String)]
    /// Where the text was read, for messages (`…/chat_template.jinja`, `tokenizer_config.json`, …).
    public var origin: String

    public init(named: [(name: String, text: String)], origin: String) {
        self.named = named
        self.origin = origin
    }

    public init(single text: String, origin: String) {
        self.init(named: [("default", text)], origin: origin)
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.origin == b.origin && a.named.map { $0.name } == b.named.map { $0.name } && a.named.map { $0.text } == b.named.map { $0.text }
    }
}

/// One place a model's chat template may come from. Sources are tried in order and the first that has a
/// template wins (`ChatTemplateSource.standard`); a new kind of checkpoint adds its source to that list.
public enum ChatTemplateSource: Sendable {
    /// Text given by the operator (`chat_template` in a model's configuration entry); overrides the checkpoint.
    case configured(ChatTemplateTexts)
    /// A template stored inside the weights file (GGUF `tokenizer.chat_template`).
    case embedded(String, origin: String)
    /// `chat_template.jinja` in the model directory (what transformers saves since 4.43).
    case jinjaFile(URL)
    /// `chat_template` in `tokenizer_config.json`: a string, or a list of `{"name", "template"}`.
    case tokenizerConfig(URL)

    /// The order transformers and the configuration imply: operator override, then the checkpoint's own.
    public static func standard(directory: URL, configured: ChatTemplateTexts? = nil,
                                embedded: String? = nil) -> [ChatTemplateSource] {
        var sources: [ChatTemplateSource] = []
        if let configured { sources.append(.configured(configured)) }
        if let embedded { sources.append(.embedded(embedded, origin: "the weights file")) }
        sources.append(.jinjaFile(directory.appendingPathComponent("chat_template.jinja")))
        sources.append(.tokenizerConfig(directory.appendingPathComponent("tokenizer_config.json")))
        return sources
    }

    /// The template text this source holds, or nil when it has none.
    public func read() throws -> ChatTemplateTexts? {
        switch self {
        case .configured(let texts):
            return texts
        case .embedded(let text, let origin):
            return ChatTemplateTexts(single: text, origin: origin)
        case .jinjaFile(let url):
            guard FileManager.default.fileExists(atPath: url.path) else { return nil }
            return ChatTemplateTexts(single: try Self.readText(url), origin: url.path)
        case .tokenizerConfig(let url):
            guard FileManager.default.fileExists(atPath: url.path) else { return nil }
            guard case .dict(let root) = try Self.parseJSON(url) else {
                throw ModelError.invalidChatTemplate(origin: url.path, reason: "the file is not a JSON object")
            }
            switch root["chat_template"] {
            case nil, .none?: return nil
            case .string(let text)?: return ChatTemplateTexts(single: text, origin: url.path)
            case .list(let entries)?:
                var named: [(name: String, text: String)] = []
                for (index, entry) in entries.enumerated() {
                    guard case .dict(let d) = entry, case .string(let name)? = d["name"],
                          case .string(let text)? = d["template"] else {
                        throw ModelError.invalidChatTemplate(
                            origin: url.path, reason: "chat_template[\(index)] is not a {\"name\", \"template\"} object")
                    }
                    named.append((name, text))
                }
                return named.isEmpty ? nil : ChatTemplateTexts(named: named, origin: url.path)
            case .some:
                throw ModelError.invalidChatTemplate(
                    origin: url.path, reason: "chat_template must be a string or a list of named templates")
            }
        }
    }

    static func readText(_ url: URL) throws -> String {
        do { return try String(contentsOf: url, encoding: .utf8) } catch {
            throw ModelError.invalidChatTemplate(origin: url.path, reason: "cannot read the file (\(error.localizedDescription))")
        }
    }

    static func parseJSON(_ url: URL) throws -> Value {
        do { return try TemplateJSON.parse(try readText(url)) } catch let error as ModelError { throw error } catch {
            throw ModelError.invalidChatTemplate(origin: url.path, reason: "not valid JSON (\(error))")
        }
    }
}

/// The special tokens a template sees (`bos_token`, `eos_token`, …), as transformers passes its
/// `special_tokens_map`: strings, with `AddedToken` objects reduced to their `content`.
public enum ChatTemplateSpecialTokens {
    static let names = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"]

    /// Reads `special_tokens_map.json` then `tokenizer_config.json` (which wins) from a model directory.
    public static func load(directory: URL) throws -> [String: Value] {
        var tokens: [String: Value] = [:]
        for file in ["special_tokens_map.json", "tokenizer_config.json"] {
            let url = directory.appendingPathComponent(file)
            guard FileManager.default.fileExists(atPath: url.path) else { continue }
            guard case .dict(let root) = try ChatTemplateSource.parseJSON(url) else { continue }
            for name in names {
                if let token = content(root[name]) { tokens[name] = .string(token) }
            }
            if case .list(let extra)? = root["additional_special_tokens"] {
                tokens["additional_special_tokens"] = .list(extra.compactMap(content).map(Value.string))
            }
        }
        return tokens
    }

    private static func content(_ value: Value?) -> String? {
        switch value {
        case .string(let s)?: return s
        case .dict(let d)?: return d["content"]?.stringValue
        default: return nil
        }
    }
}
