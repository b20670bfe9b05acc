import NibbleTemplates

/// One message of a chat conversation.
public struct ChatMessage: Sendable, Equatable {
    /// "system", "user" or "assistant".
    public var role: String
    public var content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// What a model family adds on top of its weights: how prompts are written and where replies end.
///
/// Registered by name (`llama`, `guanaco`) in `ModelAdapters`.
public protocol ModelAdapter: Sendable {
    /// The registry name used in configuration files (`adapter: guanaco`).
    var name: String { get }
    /// The prompt format as a Jinja chat template, used when the checkpoint brings no template of its own.
    var chatTemplate: String { get }
    /// Strings that end a reply in this format (excluded from the output).
    var defaultStopStrings: [String] { get }
}

extension ModelAdapter {
    /// Renders a conversation in this adapter's format, ending where the reply starts.
    public func chatPrompt(_ messages: [ChatMessage]) throws -> String {
        try ModelChatTemplate(adapter: self).render(
            messages: messages.map { .dict(OrderedDict([("role", .string($0.role)), ("content", .string($0.content))])) })
    }
}

/// The adapters Nibble knows, by registry name.
public enum ModelAdapters {
    /// Every adapter name accepted in configuration.
    public static let names = ["llama", "guanaco"]

    /// The adapter for a registry name, or nil when unknown.
    public static func named(_ name: String) -> (any ModelAdapter)? {
        switch name.lowercased() {
        case "llama": return LlamaAdapter()
        case "guanaco": return GuanacoAdapter()
        default: return nil
        }
    }
}
