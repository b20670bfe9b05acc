import NibbleFormats

/// Checks that the checkpoint holds every tensor `config.json` implies, with the shapes it implies, before any
/// long work: a config that claims more layers (or other sizes) than the weights have fails at once, naming
/// the first missing or mis-shaped tensor.
enum LlamaTensorCheck {
    static func run(config c: ModelConfig, archive: SafetensorsArchive) throws {
        let hidden = c.hiddenSize, qDim = c.numAttentionHeads * c.headDim, kvDim = c.numKeyValueHeads * c.headDim
        let ffn = c.intermediateSize
        func require(_ name: String, _ shape: [Int]) throws {
            guard let view = archive.tensorIfPresent(name) else {
                throw FormatError.missingTensor(name: name, searched: "\(archive.location) (config.json implies it)")
            }
            // Quantized checkpoints store packed shapes; only float tensors are compared with the config.
            guard [.f32, .f16, .bf16].contains(view.dtype), view.shape != shape else { return }
            throw FormatError.invalidTensor(
                path: archive.location, tensor: name,
                reason: "shape \(view.shape) does not match config.json, which implies \(shape) "
                    + "(hidden_size \(hidden), intermediate_size \(ffn), vocab_size \(c.vocabSize), heads \(c.numAttentionHeads)/\(c.numKeyValueHeads) × head_dim \(c.headDim))")
        }
        try require("model.embed_tokens.weight", [c.vocabSize, hidden])
        // The last layer first: a config claiming too many layers fails on its first lookup.
        let order = c.numHiddenLayers > 1 ? [c.numHiddenLayers - 1] + Array(0..<(c.numHiddenLayers - 1)) : [0]
        for i in order {
            let p = "model.layers.\(i)."
            try require(p + "input_layernorm.weight", [hidden])
            try require(p + "self_attn.q_proj.weight", [qDim, hidden])
            try require(p + "self_attn.k_proj.weight", [kvDim, hidden])
            try require(p + "self_attn.v_proj.weight", [kvDim, hidden])
            try require(p + "self_attn.o_proj.weight", [hidden, qDim])
            try require(p + "post_attention_layernorm.weight", [hidden])
            try require(p + "mlp.gate_proj.weight", [ffn, hidden])
            try require(p + "mlp.up_proj.weight", [ffn, hidden])
            try require(p + "mlp.down_proj.weight", [hidden, ffn])
        }
        try require("model.norm.weight", [hidden])
        if !c.tieWordEmbeddings || archive.contains("lm_head.weight") { try require("lm_head.weight", [c.vocabSize, hidden]) }
    }
}
