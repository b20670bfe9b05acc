/// Picks the next token from processed logits: arg-max when greedy, otherwise a seeded draw.
public struct Sampler: Sendable {
    public let greedy: Bool
    private var generator: SeededGenerator

    /// - Parameter seed: nil draws a fresh seed, so unseeded requests differ from each other.
    public init(greedy: Bool, seed: UInt64?) {
        self.greedy = greedy
        var system = SystemRandomNumberGenerator()
        generator = SeededGenerator(seed: seed ?? system.next())
    }

    /// Convenience for a parameter set.
    public init(parameters: GenerationParameters) {
        self.init(greedy: parameters.isGreedy, seed: parameters.seed)
    }

    /// Next token id, or nil when no logit is finite (all filtered, NaN or infinite): then there is nothing to
    /// choose from, and picking id 0 would be a silent wrong answer. Greedy ties go to the lowest id; sampling
    /// walks ids in order over the softmax of the finite logits.
    public mutating func sample(_ logits: [Float]) -> Int? {
        guard logits.contains(where: { $0.isFinite || $0 == .infinity }) else { return nil }
        if greedy { return Self.argmax(logits) }
        // +infinity (an overflowed penalty or temperature) would make the softmax NaN: such steps are greedy.
        if logits.contains(.infinity) { return Self.argmax(logits) }
        let probabilities = softmax(logits.map { $0.isNaN ? -.infinity : $0 })
        let u = generator.nextUnitDouble()
        var cumulative = 0.0
        var last = 0
        for (id, p) in probabilities.enumerated() where p > 0 {
            cumulative += p
            last = id
            if u < cumulative { return id }
        }
        // Rounding can leave the total a hair under 1; the last possible token then takes the remainder.
        return last
    }

    /// Index of the largest logit; the first (lowest id) wins a tie.
    public static func argmax(_ logits: [Float]) -> Int {
        var best = 0
        var bestValue = -Float.infinity
        for (i, value) in logits.enumerated() where value > bestValue {
            best = i
            bestValue = value
        }
        return best
    }
}
