/// Adds a fixed bias to chosen tokens' logits (OpenAI and llama.cpp `logit_bias`); a bias of `-infinity` bans
/// the token. Runs with the penalties, before temperature and filters, and never changes reported logprobs,
/// which are read from the raw logits.
public struct LogitBiasProcessor: LogitProcessor {
    /// Bias per token id; `-infinity` bans.
    public let biases: [Int: Float]

    public init(biases: [Int: Float]) { self.biases = biases }

    public func process(_ logits: inout [Float], history: TokenHistory) {
        for (id, bias) in biases where id >= 0 && id < logits.count {
            logits[id] = bias == -.infinity ? -.infinity : logits[id] + bias
        }
    }
}
