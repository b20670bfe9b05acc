import Foundation

/// transformers' log-softmax over SmolLM2's raw logits: the per-token log-probabilities of loglikelihood cases
/// (context + continuation) and greedy steps with their five most likely tokens.
public struct LogprobsReference: Decodable, Sendable {
    public struct Loglikelihood: Decodable, Sendable {
        public let context: String
        public let continuation: String
        public let prompt_ids: [Int]
        public let token_logprobs: [Double?]
        public let continuation_tokens: Int
        public let continuation_logprob: Double
        public let is_greedy: Bool
    }
    public struct Alternative: Decodable, Sendable {
        public let token_id: Int
        public let token: String
        public let logprob: Double
    }
    public struct Step: Decodable, Sendable {
        public let token_id: Int
        public let token: String
        public let logprob: Double
        public let top: [Alternative]
    }
    public struct Generation: Decodable, Sendable {
        public let prompt: String
        public let steps: [Step]
    }
    public let loglikelihood: [Loglikelihood]
    public let generation: [Generation]

    public static let name = "smollm2/smollm2-logprobs.json"
    public static var available: Bool {
        RealModelFixtures.smolLM2GGUF != nil && FileManager.default.fileExists(atPath: SharedFixtures.reference(name).path)
    }
    public static let why = "needs the SmolLM2 GGUF (\(RealModelFixtures.smolLM2Missing)) and NIBBLE_SHARED reference/smollm2"
    public static func load() throws -> LogprobsReference { try SharedFixtures.decodeReference(Self.self, name) }
}
