import Foundation
import NibbleTemplates

/// Any JSON value, decoded as the value a chat template sees (objects keep sorted key order: the decoder does
/// not report the sender's).
struct TemplateValueDTO: Decodable, Sendable {
    var value: Value

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

/// llama.cpp's `POST /apply-template` answer: the rendered prompt.
struct ApplyTemplateResponseDTO: Encodable {
    var prompt: String
}
