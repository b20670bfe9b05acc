import Foundation
import NibbleFormats
import NibbleModels
import NibbleTestSupport
import Testing

/// The family registry and each family's config.json: both field styles, the fields a family needs, and the
/// settings it honours or refuses.
@Suite struct FamilyConfigurationTests {
    /// A config.json of `modelType` with `extra` fields merged in (later keys win).
    static func config(_ modelType: String, architecture: String? = nil, _ extra: String = "") throws -> ModelConfig {
        let architectures = architecture.map { #""architectures": ["\#($0)"], "# } ?? ""
        let json = #"{\#(architectures)"model_type": "\#(modelType)", "hidden_size": 64, "intermediate_size": 160, "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 100"#
            + (extra.isEmpty ? "" : ", " + extra) + "}"
        return try ModelConfig(json: Data(json.utf8), path: "config.json")
    }

    static func reason(_ body: () throws -> Void) -> String {
        do { try body() } catch { return "\(error)" }
        return "no error"
    }

    @Test func fixturesResolveToTheirFamilies() throws {
        let expected: [FamilyFixture: String] = [.mistral: "mistral", .qwen2: "qwen2", .qwen3: "qwen3", .llama3Rope: "llama"]
        for (fixture, name) in expected {
            let family = try ModelFamilies.resolve(try ModelConfig(directory: fixture.directory))
            #expect(family.name == name)
        }
        let llama = try ModelFamilies.resolve(try ModelConfig(directory: SharedFixtures.model("llama-tiny")))
        #expect(llama.name == "llama")
        #expect(ModelFamilies.family(ggufArchitecture: "qwen2")?.name == "qwen2")
        #expect(ModelFamilies.family(ggufArchitecture: "gpt2") == nil)
    }

    @Test func eachFamilyReadsWhatItsFixtureSays() throws {
        let mistral = try ModelFamilies.resolve(try ModelConfig(directory: FamilyFixture.mistral.directory)).architecture
        #expect(mistral.windows == [16, 16] && mistral.biases == .init() && !mistral.normalizesQueriesAndKeys)
        #expect(mistral.headDim == 16 && !mistral.tiedEmbeddings)

        let qwen2 = try ModelFamilies.resolve(try ModelConfig(directory: FamilyFixture.qwen2.directory)).architecture
        #expect(qwen2.biases == .init(query: true, key: true, value: true, output: false, mlp: false))
        #expect(qwen2.windows == [nil, nil] && qwen2.tiedEmbeddings && qwen2.rope == RopeParameters(theta: 1_000_000))

        let qwen3 = try ModelFamilies.resolve(try ModelConfig(directory: FamilyFixture.qwen3.directory)).architecture
        #expect(qwen3.normalizesQueriesAndKeys && qwen3.headDim == 32 && qwen3.heads * qwen3.headDim == 128)
        #expect(qwen3.biases == .init())

        let llama3 = try ModelFamilies.resolve(try ModelConfig(directory: FamilyFixture.llama3Rope.directory)).architecture
        #expect(llama3.rope == RopeParameters(theta: 500_000, scaling: .llama3(factor: 8, lowFrequencyFactor: 1,
                                                                             highFrequencyFactor: 4, originalMaxPositions: 64)))
        #expect(llama3.headDim == 32 && llama3.kvHeads == 1 && llama3.tiedEmbeddings)
    }

    @Test func bothRopeFieldStyles() throws {
        let newer = try ModelFamilies.resolve(try ModelConfig(directory: SharedFixtures.model("llama-tiny"))).architecture
        let older = try ModelFamilies.resolve(try ModelConfig(directory: SharedFixtures.model("llama-tiny-sharded-bf16"))).architecture
        #expect(newer.rope == RopeParameters(theta: 10000) && older.rope == newer.rope)
        #expect(newer.headDim == 32 && older.rmsNormEps == 1e-5)
        let scaled = try ModelFamilies.resolve(try Self.config("llama", #""rope_theta": 5e5, "rope_scaling": {"type": "linear", "factor": 2.0}"#))
        #expect(scaled.architecture.rope == RopeParameters(theta: 500_000, scaling: .linear(factor: 2)))
        let unknown = Self.reason { _ = try ModelFamilies.resolve(try Self.config("llama", #""rope_scaling": {"rope_type": "yarn", "factor": 4.0}"#)) }
        #expect(unknown.contains("rope_type 'yarn'"))
    }

    /// A GGUF file's `rope_freqs` divisors: one per rotated pair, each positive and finite.
    @Test func ropeFrequencyFactorsAreChecked() throws {
        let rope = try RopeParameters.frequencyFactors([1, 2, 4, 8], theta: 10000, headDim: 8, path: "f.gguf")
        #expect(rope.scaling == .frequencyFactors([1, 2, 4, 8]))
        let short = Self.reason { _ = try RopeParameters.frequencyFactors([1, 2], theta: 10000, headDim: 8, path: "f.gguf") }
        #expect(short.contains("rope_freqs has 2 factors") && short.contains("need 4"))
        let zero = Self.reason { _ = try RopeParameters.frequencyFactors([1, 0, 1, 1], theta: 10000, headDim: 8, path: "f.gguf") }
        #expect(zero.contains("rope frequency factor must be a positive finite number"))
        let nan = Self.reason { _ = try RopeParameters.frequencyFactors([1, .nan, 1, 1], theta: 10000, headDim: 8, path: "f.gguf") }
        #expect(nan.contains("positive finite"))
    }

    @Test func unknownFamilyIsRefusedWithTheKnownOnes() throws {
        let message = Self.reason { _ = try ModelFamilies.resolve(try Self.config("gpt2", architecture: "GPT2LMHeadModel")) }
        #expect(message.contains("'gpt2'"))
        for name in ["llama", "mistral", "qwen2", "qwen3", "Qwen3ForCausalLM", "MistralForCausalLM"] {
            #expect(message.contains(name), "\(message) lists \(name)")
        }
        // A known model_type with another head is not a causal LM this family builds.
        let head = Self.reason { _ = try ModelFamilies.resolve(try Self.config("qwen2", architecture: "Qwen2ForSequenceClassification")) }
        #expect(head.contains("Qwen2ForSequenceClassification"))
    }

    @Test func missingFieldsAreNamed() throws {
        let qwen3 = Self.reason { _ = try ModelFamilies.resolve(try Self.config("qwen3")) }
        #expect(qwen3.contains("missing field 'head_dim'"))
        #expect(try ModelFamilies.resolve(try Self.config("qwen3", #""head_dim": 32"#)).architecture.headDim == 32)
        let activation = Self.reason { _ = try ModelFamilies.resolve(try Self.config("mistral", #""hidden_act": "gelu""#)) }
        #expect(activation.contains("hidden_act 'gelu'"))
    }

    @Test func qwenSlidingWindowsFollowTransformersRule() throws {
        // use_sliding_window off: sliding_window is ignored, as transformers does.
        let off = try ModelFamilies.resolve(try Self.config("qwen2", #""sliding_window": 8, "max_window_layers": 2"#))
        #expect(off.architecture.windows == [nil, nil, nil, nil])
        // On: layers from max_window_layers on slide.
        let on = try ModelFamilies.resolve(try Self.config("qwen2", #""use_sliding_window": true, "sliding_window": 8, "max_window_layers": 2"#))
        #expect(on.architecture.windows == [nil, nil, 8, 8])
        // Explicit layer_types win.
        let typed = try ModelFamilies.resolve(try Self.config("qwen3", #""head_dim": 16, "use_sliding_window": true, "sliding_window": 8, "layer_types": ["sliding_attention", "full_attention", "sliding_attention", "full_attention"]"#))
        #expect(typed.architecture.windows == [8, nil, 8, nil])
        let noWindow = Self.reason { _ = try ModelFamilies.resolve(try Self.config("qwen2", #""layer_types": ["sliding_attention", "full_attention", "full_attention", "full_attention"]"#)) }
        #expect(noWindow.contains("no sliding_window"))
        let badType = Self.reason { _ = try ModelFamilies.resolve(try Self.config("qwen2", #""layer_types": ["chunked_attention", "full_attention", "full_attention", "full_attention"]"#)) }
        #expect(badType.contains("chunked_attention"))
        let shortTypes = Self.reason { _ = try ModelFamilies.resolve(try Self.config("qwen2", #""layer_types": ["full_attention"]"#)) }
        #expect(shortTypes.contains("1 entries for 4 layers"))
    }

    @Test func familiesNameTheirOwnModules() throws {
        let qwen3 = try ModelFamilies.resolve(try ModelConfig(directory: FamilyFixture.qwen3.directory))
        #expect(qwen3.layout.queryNorm == "self_attn.q_norm" && qwen3.layout.layer(1) == "model.layers.1")
        #expect(qwen3.layout.linearModules(layerCount: 1, hasLMHead: false).count == 7)
        #expect(LlamaFamily.dropsTensor("model.layers.0.self_attn.rotary_emb.inv_freq"))
        #expect(!LlamaFamily.dropsTensor("model.layers.0.self_attn.q_proj.weight"))
    }
}
