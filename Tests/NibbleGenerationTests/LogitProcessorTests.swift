import Testing
@testable import NibbleGeneration

@Suite struct LogitProcessorTests {
    let history = TokenHistory(prompt: [0, 2], generated: [2, 3])

    @Test func repetitionPenaltyFollowsHF() {
        // HF: for each id in input_ids, score < 0 ? score * p : score / p (once per id even if repeated).
        var logits: [Float] = [2, 1, -1, 4, 3]
        RepetitionPenaltyProcessor(penalty: 2).process(&logits, history: history)
        #expect(logits == [1, 1, -2, 2, 3])
    }

    @Test func repetitionPenaltyWindowCountsOnlyRecentTokens() {
        var logits: [Float] = [2, 1, -1, 4, 3]
        // Last 2 tokens of [0, 2, 2, 3] are 2 and 3.
        RepetitionPenaltyProcessor(penalty: 2, window: 2).process(&logits, history: history)
        #expect(logits == [2, 1, -2, 2, 3])
    }

    @Test func frequencyAndPresenceUseGeneratedTokensOnly() {
        var logits: [Float] = [0, 0, 0, 0, 0]
        let history = TokenHistory(prompt: [1, 1, 1], generated: [2, 2, 4])
        FrequencyPresencePenaltyProcessor(frequency: 0.5, presence: 0.25).process(&logits, history: history)
        // id 2: 2 * 0.5 + 0.25; id 4: 1 * 0.5 + 0.25; prompt-only id 1 untouched.
        #expect(logits == [0, 0, -1.25, 0, -0.75])
    }

    @Test func temperatureDivides() {
        var logits: [Float] = [1, -2, 4]
        TemperatureProcessor(temperature: 0.5).process(&logits, history: history)
        #expect(logits == [2, -4, 8])
    }

    @Test func topKKeepsTiesAtTheCutoff() {
        var logits: [Float] = [1, 3, 2, 3, 0]
        TopKProcessor(k: 2).process(&logits, history: history)
        #expect(logits == [-.infinity, 3, -.infinity, 3, -.infinity])
        var tied: [Float] = [1, 2, 2, 0]
        TopKProcessor(k: 2).process(&tied, history: history)
        #expect(tied == [-.infinity, 2, 2, -.infinity])
    }

    @Test func topPMatchesHFCumulativeRule() {
        // probs (ln-space logits): 0.5, 0.3, 0.15, 0.05.
        let base: [Float] = [0.5, 0.3, 0.15, 0.05].map { Float(log($0)) }
        var logits = base
        TopPProcessor(p: 0.75).process(&logits, history: history)
        // Ascending cumsum: 0.05, 0.20, 0.50, 1.0; removed where <= 0.25 → ids 3 and 2.
        #expect(logits[0] == base[0] && logits[1] == base[1])
        #expect(logits[2] == -.infinity && logits[3] == -.infinity)

        var tight = base
        TopPProcessor(p: 0.1).process(&tight, history: history)
        // Only the most likely token survives, never zero tokens.
        #expect(tight.filter { $0 > -.infinity }.count == 1 && tight[0] == base[0])
    }

    @Test func minPScalesWithTheTopProbability() {
        let base: [Float] = [0.5, 0.3, 0.15, 0.05].map { Float(log($0)) }
        var logits = base
        MinPProcessor(minP: 0.2).process(&logits, history: history)
        // threshold 0.2 * 0.5 = 0.1 → 0.05 removed.
        #expect(logits[0...2] == base[0...2])
        #expect(logits[3] == -.infinity)
    }

    @Test func chainAppliesHFOrderAndSkipsWarpersWhenGreedy() {
        var parameters = GenerationParameters()
        parameters.temperature = 0.7
        parameters.topK = 40
        parameters.topP = 0.9
        parameters.minP = 0.05
        parameters.repetitionPenalty = 1.1
        let names = LogitProcessorChain(parameters: parameters).processors.map { String(describing: type(of: $0)) }
        #expect(names == ["RepetitionPenaltyProcessor", "TemperatureProcessor", "TopKProcessor", "TopPProcessor",
                          "MinPProcessor"])
        parameters.doSample = false
        #expect(LogitProcessorChain(parameters: parameters).processors.count == 1)
    }

    @Test func validationNamesTheParameter() {
        var parameters = GenerationParameters()
        parameters.topP = 1.5
        #expect(throws: InvalidParameter(name: "top_p", reason: "must be in (0, 1]")) { try parameters.validated() }
        parameters = GenerationParameters()
        parameters.maxNewTokens = 0
        #expect(throws: InvalidParameter.self) { try parameters.validated() }
    }
}

import Foundation
