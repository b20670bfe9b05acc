import Foundation
import NibbleFormats
import NibbleModels
import NibbleTestSupport
import Testing

/// Guanaco = llama-tiny + a PEFT LoRA merged at load, against PEFT's own merged model.
@Suite struct GuanacoTests {
    static func loadGuanaco() throws -> LoadedModel {
        var options = LoadOptions(adapterName: "guanaco")
        options.loraDirectory = SharedFixtures.model("guanaco-tiny-lora")
        return try ModelLoader.load(directory: SharedFixtures.model("llama-tiny"), options: options)
    }

    @Test(arguments: ["guanaco-tiny-merged-fp32", "guanaco-tiny-lora-fp32"])
    func mergedLoRAMatchesPEFT(reference name: String) throws {
        try Self.check(try Self.loadGuanaco(), reference: name)
    }

    /// Last-position logits within 1e-3 and greedy ids equal to PEFT's reference `name`.
    static func check(_ loaded: LoadedModel, reference name: String) throws {
        let (reference, logits) = try ReferenceFile.load(name)
        #expect(!reference.cases.isEmpty)
        for (i, c) in reference.cases.enumerated() {
            let (first, generated) = try LlamaReferenceTests.greedy(loaded, prompt: c.input_ids, count: c.greedy_new_ids.count)
            let diff = maxAbsDiff(first, try logits.tensor("p\(i).last_logits").floats())
            #expect(diff <= 1e-3, "\(name) case \(i): max |Δlogit| = \(diff)")
            #expect(generated == c.greedy_new_ids, "\(name) case \(i) greedy ids")
        }
    }

    @Test func adapterConfigIsRead() throws {
        let adapter = try LoRAAdapter(directory: SharedFixtures.model("guanaco-tiny-lora"))
        #expect(adapter.rank == 8 && adapter.alpha == 16 && !adapter.useRSLoRA)
        #expect(adapter.modules.count == 14)  // 7 projections × 2 layers
        #expect(adapter.modules["model.layers.1.self_attn.q_proj"]?.scaling == 2)
    }

    @Test func guanacoPromptAndStops() throws {
        let adapter = GuanacoAdapter()
        let prompt = try adapter.chatPrompt([ChatMessage(role: "user", content: "What is NF4?")])
        #expect(prompt.hasSuffix("\n### Human: What is NF4?\n### Assistant:"))
        #expect(prompt.hasPrefix(GuanacoAdapter.defaultSystem))
        #expect(adapter.defaultStopStrings == ["###"])
    }

    @Test func guanacoOverAMergedCheckpointNeedsNoLoRA() throws {
        // A checkpoint with the adapter merged in keeps the Guanaco prompt format and stops.
        let loaded = try ModelLoader.load(directory: SharedFixtures.model("llama-tiny"), options: LoadOptions(adapterName: "guanaco"))
        #expect(loaded.adapter.name == "guanaco")
        #expect(loaded.adapter.defaultStopStrings == GuanacoAdapter().defaultStopStrings)
    }

    @Test func adapterForAnotherModelIsRejected() {
        var options = LoadOptions(adapterName: "guanaco")
        options.loraDirectory = SharedFixtures.model("guanaco-tiny-lora")
        // kjv-llama-4m has 6 layers of width 192: the adapter's modules do not fit it.
        #expect(throws: ModelError.self) {
            try ModelLoader.load(directory: SharedFixtures.model("kjv-llama-4m"), options: options)
        }
    }
}
