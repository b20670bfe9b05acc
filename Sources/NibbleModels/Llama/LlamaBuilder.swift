import NibbleFormats
import NibbleKernels

/// Builds a `LlamaModel` from checkpoint names (`model.layers.{i}.self_attn.q_proj.weight`, …).
struct LlamaBuilder {
    let config: ModelConfig
    let weights: WeightBuilder

    func build(memory: inout WeightMemoryReport, progress: (Double) -> Void) throws -> LlamaModel {
        let c = config
        let hidden = c.hiddenSize, qDim = c.numAttentionHeads * c.headDim, kvDim = c.numKeyValueHeads * c.headDim
        let ffn = c.intermediateSize

        let embedView = try weights.archive.tensor("model.embed_tokens.weight")
        let embedOnDisk = weights.plan.tier(of: "model.embed_tokens") == .disk
        let embeddings = try weights.dense(embedView, outFeatures: c.vocabSize, inFeatures: hidden, mapped: embedOnDisk)
        memory.add(bytes: embeddings.storageBytes, parameters: c.vocabSize * hidden, tier: embedOnDisk ? "disk" : "cpu",
                   format: embeddings.formatName, moduleKind: "embed_tokens")

        var layers: [LlamaLayer] = []
        for i in 0..<c.numHiddenLayers {
            let p = "model.layers.\(i)."
            func linear(_ name: String, _ out: Int, _ inp: Int, bias: Bool) throws -> Linear {
                try weights.linear(p + name, outFeatures: out, inFeatures: inp, hasBias: bias, memory: &memory)
            }
            layers.append(LlamaLayer(
                inputNorm: try weights.vector(p + "input_layernorm.weight", count: hidden, memory: &memory),
                q: try linear("self_attn.q_proj", qDim, hidden, bias: c.attentionBias),
                k: try linear("self_attn.k_proj", kvDim, hidden, bias: c.attentionBias),
                v: try linear("self_attn.v_proj", kvDim, hidden, bias: c.attentionBias),
                o: try linear("self_attn.o_proj", hidden, qDim, bias: c.attentionBias),
                postAttentionNorm: try weights.vector(p + "post_attention_layernorm.weight", count: hidden, memory: &memory),
                gate: try linear("mlp.gate_proj", ffn, hidden, bias: c.mlpBias),
                up: try linear("mlp.up_proj", ffn, hidden, bias: c.mlpBias),
                down: try linear("mlp.down_proj", hidden, ffn, bias: c.mlpBias),
                offloaded: weights.plan.tier(of: "model.layers.\(i)") == .disk))
            progress(Double(i + 1) / Double(c.numHiddenLayers + 1))
        }
        let finalNorm = try weights.vector("model.norm.weight", count: hidden, memory: &memory)
        let lmHead: Linear
        if !c.tieWordEmbeddings || weights.archive.contains("lm_head.weight") {
            lmHead = try weights.linear("lm_head", outFeatures: c.vocabSize, inFeatures: hidden, hasBias: false, memory: &memory)
        } else {
            lmHead = Linear(weight: embeddings)
        }
        progress(1)
        return LlamaModel(config: c, embeddings: embeddings, layers: layers, finalNorm: finalNorm, lmHead: lmHead)
    }
}
