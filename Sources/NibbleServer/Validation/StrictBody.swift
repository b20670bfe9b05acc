import Foundation

/// A request body that knows every top-level key it takes, so a field Nibble does not honour is refused by name
/// instead of being silently ignored (a client asking for `logprobs` must not get a 200 without them).
protocol StrictBody: Decodable {
    /// Keys the endpoint honours, plus keys accepted because they change nothing about the answer.
    static var knownKeys: Set<String> { get }
}

enum InertKeys {
    /// OpenAI fields that change nothing about what is generated or returned here: bookkeeping for the caller.
    static let openAI: Set<String> = ["user", "metadata", "store", "service_tier"]
    /// llama.cpp `/completion` fields that change nothing here: prompts are always cached when it helps, and there
    /// are no slots to pick.
    static let llamaCpp: Set<String> = ["cache_prompt", "id_slot"]
}

extension JSONBody {
    /// The first top-level key of `data` that `T` does not know, in sorted order (nil for non-strict bodies).
    /// A key set to null or false asks for nothing (`"logprobs": false`), so it is not reported.
    static func unknownKey<T: Decodable>(_ type: T.Type, in data: Data) -> String? {
        guard let strict = type as? any StrictBody.Type,
              let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { return nil }
        let known = strict.knownKeys
        return object.keys.sorted().first { key in
            guard !known.contains(key) else { return false }
            let value = object[key]!
            if value is NSNull { return false }
            if let number = value as? NSNumber, String(cString: number.objCType) == "c", !number.boolValue { return false }
            return true
        }
    }
}

extension CaseIterable where Self: RawRepresentable, Self.RawValue == String {
    /// Every raw value, for `StrictBody.knownKeys`.
    static var rawValues: Set<String> { Set(allCases.map(\.rawValue)) }
}

// MARK: - The endpoints' bodies

extension CompletionRequestDTO: StrictBody {
    static let knownKeys = CodingKeys.rawValues.union(OpenAISamplingDTO.CodingKeys.rawValues).union(InertKeys.openAI)
        .union(CompletionChoiceFieldsDTO.CodingKeys.rawValues)
        .union(StructuredOutputDTO.CodingKeys.rawValues)
}

extension ChatCompletionRequestDTO: StrictBody {
    static let knownKeys = CodingKeys.rawValues.union(OpenAISamplingDTO.CodingKeys.rawValues).union(InertKeys.openAI)
        .union(["parallel_tool_calls"]).union(ChatChoiceFieldsDTO.CodingKeys.rawValues)
        .union(StructuredOutputDTO.CodingKeys.rawValues).union(ToolOptionsDTO.CodingKeys.rawValues)
}

extension LlamaCompletionRequestDTO: StrictBody {
    static let knownKeys = CodingKeys.rawValues.union(InertKeys.llamaCpp)
        .union([StructuredOutputDTO.CodingKeys.grammar.rawValue, StructuredOutputDTO.CodingKeys.jsonSchema.rawValue])
}

extension TokenizeRequestDTO: StrictBody {
    static let knownKeys = CodingKeys.rawValues
}

extension DetokenizeRequestDTO: StrictBody {
    static let knownKeys = CodingKeys.rawValues
}
