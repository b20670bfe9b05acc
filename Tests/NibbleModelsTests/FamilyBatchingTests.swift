import Foundation
import NibbleModels
import NibbleTestSupport
import Testing

/// One `forward(batch:)` over sequences of different lengths equals each sequence run alone.
@Suite struct FamilyBatchingTests {
    @Test(arguments: FamilyFixture.allCases)
    func batchedStepEqualsEachSequenceAlone(_ fixture: FamilyFixture) throws {
        let loaded = try ModelLoader.load(directory: fixture.directory)
        let model = loaded.model
        let (reference, _) = try ReferenceFile.load(fixture.reference)
        // Three sequences: a cached prefix of 20 then 9 new tokens (crossing mistral's 16-token window), a fresh
        // 5-token prompt, and a cached 30-token prefix decoding one token.
        let long = reference.cases.map(\.input_ids).max { $0.count < $1.count }!
        let plans: [(prefix: [Int], step: [Int])] = [
            (Array(long[0..<20]), Array(long[20..<29])),
            ([], Array(reference.cases[0].input_ids.prefix(5))),
            (Array(long[40..<70]), [long[70]]),
        ]
        func caches() throws -> [KVCache] {
            try plans.map { plan in
                let cache = model.makeCache(capacity: 64)
                if !plan.prefix.isEmpty { _ = try model.forward(plan.prefix, cache: cache, allLogits: false) }
                return cache
            }
        }
        let alone = try zip(plans, try caches()).map { plan, cache in try model.forward(plan.step, cache: cache, allLogits: true) }
        let batchCaches = try caches()
        let batched = try model.forward(batch: zip(plans, batchCaches).map { plan, cache in
            SequenceStep(tokens: plan.step, cache: cache, logits: .all)
        })
        #expect(batched.count == plans.count)
        for s in plans.indices {
            #expect(batched[s].count == alone[s].count)
            let diff = maxAbsDiff(batched[s], alone[s])
            #expect(diff <= 1e-5, "\(fixture.rawValue) sequence \(s): max |Δlogit| = \(diff)")
            #expect(batchCaches[s].count == plans[s].prefix.count + plans[s].step.count)
        }
    }
}
