import Foundation
import NibbleTemplates

/// Any JSON value, decoded as the value a chat template sees (objects keep sorted key order: the decoder does
/// not report the sender's).
struct TemplateValueDTO: Decodable, Sendable {
    var value: Value

    init(_ value: Value) { self.value = value }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            value = .none
        } else if let bool = try? container.decode(Bool.self) {
            value = .bool(bool)
        } else if let int = try? container.decode(Int.self) {
            value = .int(int)
        } else if let double = try? container.decode(Double.self) {
            value = .double(double)
        } else if let string = try? container.decode(String.self) {
            value = .string(string)
        } else if let list = try? container.decode([TemplateValueDTO].self) {
            value = .list(list.map(\.value))
        } else {
            let object = try container.decode([String: TemplateValueDTO].self)
            value = .dict(OrderedDict(object.keys.sorted().map { ($0, object[$0]!.value) }))
        }
    }
}

extension ChatCompletionRequestDTO {
    /// Replaces the generic JSON fields with the same values read from the raw body in the sender's key order,
    /// which templates show (`tools | tojson`, `arguments | tojson`, `.items()`).
    mutating func keepKeyOrder(from body: Data) {
        guard case .dict(let root)? = try? TemplateJSON.parse(String(decoding: body, as: UTF8.self)) else { return }
        if case .list(let list)? = root["messages"], messages?.count == list.count { messages = list.map(TemplateValueDTO.init) }
        if let value = root["tools"], tools != nil { tools = TemplateValueDTO(value) }
        if case .dict(let kwargs)? = root["chat_template_kwargs"], chatTemplateKwargs != nil {
            chatTemplateKwargs = Dictionary(kwargs.pairs.map { ($0.0, TemplateValueDTO($0.1)) }, uniquingKeysWith: { $1 })
        }
    }
}

/// llama.cpp's `POST /apply-template` answer: the rendered prompt.
struct ApplyTemplateResponseDTO: Encodable {
    var prompt: String
}
