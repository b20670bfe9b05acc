import Foundation

/// A token's log-probability at its position, and the most likely tokens there, from the model's raw logits
/// (the log-softmax before any processor: temperature, penalties, biases and filters do not change it).
public struct TokenLogprob: Sendable, Equatable {
    /// One of the most likely tokens at the position.
    public struct Alternative: Sendable, Equatable {
        public var tokenId: Int
        public var logprob: Double

        public init(tokenId: Int, logprob: Double) {
            self.tokenId = tokenId
            self.logprob = logprob
        }
    }

    /// The token that stands at the position (sampled, or given in the prompt).
    public var tokenId: Int
    public var logprob: Double
    /// The most likely tokens, most likely first (a tie goes to the lower id).
    public var top: [Alternative]

    public init(tokenId: Int, logprob: Double, top: [Alternative]) {
        self.tokenId = tokenId
        self.logprob = logprob
        self.top = top
    }

    /// The log-softmax of `logits` (one row, `(vocab)`) at `token`, with the `top` most likely tokens.
    /// Computed in double precision; NaN logits count as impossible.
    public init(logits: UnsafeBufferPointer<Float>, token: Int, top count: Int) {
        var maximum = -Float.infinity
        for value in logits where value > maximum { maximum = value }
        var sum = 0.0
        if maximum > -.infinity {
            let m = Double(maximum)
            for value in logits where value > -.infinity { sum += exp(Double(value) - m) }
        }
        // log Σ exp(x) = m + log Σ exp(x - m); an all-impossible row makes every token impossible.
        let normalizer = maximum > -.infinity ? Double(maximum) + log(sum) : 0
        func logprob(_ value: Float) -> Double {
            value.isNaN || value == -.infinity || maximum == -.infinity ? -.infinity : Double(value) - normalizer
        }
        var best: [(id: Int, value: Float)] = []
        let k = min(max(0, count), logits.count)
        if k > 0 {
            best.reserveCapacity(k + 1)
            for (id, value) in logits.enumerated() where !value.isNaN {
                if best.count == k, let last = best.last, value <= last.value { continue }
                // Insertion keeps the list sorted by value, then id: equal values keep the lower id first.
                var at = best.count
                while at > 0 && best[at - 1].value < value { at -= 1 }
                best.insert((id, value), at: at)
                if best.count > k { best.removeLast() }
            }
        }
        self.init(tokenId: token, logprob: token >= 0 && token < logits.count ? logprob(logits[token]) : -.infinity,
                  top: best.map { Alternative(tokenId: $0.id, logprob: logprob($0.value)) })
    }

    /// The same over an array row.
    public init(logits: [Float], token: Int, top count: Int) {
        self = logits.withUnsafeBufferPointer { TokenLogprob(logits: $0, token: token, top: count) }
    }
}
