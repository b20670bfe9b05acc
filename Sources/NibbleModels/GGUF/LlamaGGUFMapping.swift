import Foundation
import NibbleFormats

/// How a llama-architecture GGUF file maps onto the Hugging Face LLaMA model: `llama.*` metadata → config.json
/// fields, GGUF tensor names → transformers names, and the rotary permutation of q/k undone as transformers'
/// GGUF loader does. The one place that knows llama.cpp's naming.
enum LlamaGGUFMapping {
    /// `general.architecture` values this mapping loads.
    static let architectures = ["llama"]

    /// A config.json-equivalent object built from the metadata (transformers' `GGUF_CONFIG_MAPPING` for llama),
    /// so the same `ModelConfig` parser validates it.
    static func configJSON(_ gguf: GGUFFile) throws -> [String: Any] {
        let arch = "llama"
        func required(_ suffix: String) throws -> Int {
            guard let value = try gguf.int("\(arch).\(suffix)") else {
                throw GGUFError.invalidMetadata(path: gguf.path, key: "\(arch).\(suffix)", reason: "missing")
            }
            return value
        }
        let hidden = try required("embedding_length")
        let heads = try required("attention.head_count")
        var config: [String: Any] = [
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "hidden_size": hidden,
            "intermediate_size": try required("feed_forward_length"),
            "num_hidden_layers": try required("block_count"),
            "num_attention_heads": heads,
            "num_key_value_heads": try gguf.int("\(arch).attention.head_count_kv") ?? heads,
            "max_position_embeddings": try required("context_length"),
            "rms_norm_eps": try gguf.double("\(arch).attention.layer_norm_rms_epsilon") ?? 1e-5,
            "rope_theta": try gguf.double("\(arch).rope.freq_base") ?? 10000,
            "hidden_act": "silu",
            "dtype": "float32",
        ]
        let tokens = try gguf.strings("tokenizer.ggml.tokens")
        guard let vocab = try gguf.int("\(arch).vocab_size") ?? tokens?.count else {
            throw GGUFError.invalidMetadata(path: gguf.path, key: "\(arch).vocab_size",
                                            reason: "missing, and there is no tokenizer.ggml.tokens to count")
        }
        config["vocab_size"] = vocab
        guard heads > 0, hidden % heads == 0 else {
            throw GGUFError.invalidMetadata(path: gguf.path, key: "\(arch).attention.head_count",
                                            reason: "\(heads) does not divide the embedding length \(hidden)")
        }
        let headDim = try gguf.int("\(arch).attention.key_length") ?? hidden / heads
        if let valueLength = try gguf.int("\(arch).attention.value_length"), valueLength != headDim {
            throw GGUFError.unsupported(path: gguf.path, reason: "\(arch).attention.value_length \(valueLength) differs from the key length \(headDim)")
        }
        config["head_dim"] = headDim
        if let rotary = try gguf.int("\(arch).rope.dimension_count"), rotary != headDim {
            throw GGUFError.unsupported(path: gguf.path,
                                        reason: "\(arch).rope.dimension_count \(rotary) is not the head size \(headDim) (partial rotary embeddings are not supported)")
        }
        switch try gguf.string("\(arch).rope.scaling.type") ?? "none" {
        case "none":
            break
        case "linear":
            let key = "\(arch).rope.scaling.factor"
            guard let factor = try gguf.double(key) else {
                throw GGUFError.invalidMetadata(path: gguf.path, key: key, reason: "missing for linear rope scaling")
            }
            config["rope_scaling"] = ["rope_type": "linear", "factor": factor]
        case let other:
            throw GGUFError.unsupported(path: gguf.path, reason: "\(arch).rope.scaling.type '\(other)' is not supported (none, linear)")
        }
        // llama.cpp writes a separate output matrix only when the checkpoint does not tie it to the embeddings.
        config["tie_word_embeddings"] = gguf.tensor(named: "output.weight") == nil
        if let bos = try gguf.int("tokenizer.ggml.bos_token_id") { config["bos_token_id"] = bos }
        if let eos = try gguf.int("tokenizer.ggml.eos_token_id") { config["eos_token_id"] = eos }
        return config
    }

    /// llama.cpp's per-frequency RoPE divisors `(head_dim / 2)`, written by its converter for Llama 3 scaling;
    /// not a weight, it sets the rotation.
    static let ropeFrequencyFactors = "rope_freqs.weight"

    /// The transformers name of a GGUF tensor, or nil for a name the llama architecture does not have.
    static func transformersName(_ name: String) -> String? {
        switch name {
        case "token_embd.weight": return "model.embed_tokens.weight"
        case "output_norm.weight": return "model.norm.weight"
        case "output.weight": return "lm_head.weight"
        default: break
        }
        let parts = name.split(separator: ".", maxSplits: 2).map(String.init)
        guard parts.count == 3, parts[0] == "blk", let layer = Int(parts[1]), layer >= 0, String(layer) == parts[1] else {
            return nil
        }
        let module: String
        switch parts[2] {
        case "attn_norm.weight": module = "input_layernorm.weight"
        case "attn_q.weight": module = "self_attn.q_proj.weight"
        case "attn_k.weight": module = "self_attn.k_proj.weight"
        case "attn_v.weight": module = "self_attn.v_proj.weight"
        case "attn_output.weight": module = "self_attn.o_proj.weight"
        case "ffn_norm.weight": module = "post_attention_layernorm.weight"
        case "ffn_gate.weight": module = "mlp.gate_proj.weight"
        case "ffn_up.weight": module = "mlp.up_proj.weight"
        case "ffn_down.weight": module = "mlp.down_proj.weight"
        default: return nil
        }
        return "model.layers.\(layer).\(module)"
    }

    /// Heads whose rows llama.cpp's converter interleaved for its rotary layout: q with the attention heads,
    /// k with the key/value heads; nil for every other tensor.
    static func permutedHeads(_ name: String, config: ModelConfig) -> Int? {
        if name.hasSuffix(".self_attn.q_proj.weight") { return config.numAttentionHeads }
        if name.hasSuffix(".self_attn.k_proj.weight") { return config.numKeyValueHeads }
        return nil
    }

    /// The GGUF row that becomes row `row` after undoing the rotary permutation (transformers'
    /// `reverse_permute`): within each head of `rows / heads` rows, llama.cpp stored the two rotary halves
    /// interleaved (pair index i, half j at 2i + j); transformers wants half j's rows contiguous (j·half + i).
    @inline(__always)
    static func sourceRow(_ row: Int, rows: Int, heads: Int) -> Int {
        let perHead = rows / heads, half = perHead / 2
        let head = row / perHead, within = row % perHead
        let j = within / half, i = within % half
        return head * perHead + 2 * i + j
    }
}
