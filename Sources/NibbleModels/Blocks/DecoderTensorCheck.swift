import NibbleFormats

/// Checks that the checkpoint holds every tensor the config implies, with the shapes it implies, before any
/// long work: a config that claims more layers (or other sizes) than the weights have fails at once, naming
/// the first missing or mis-shaped tensor.
enum DecoderTensorCheck {
    static func run(_ a: DecoderArchitecture, layout names: DecoderLayout, source: any TensorSource) throws {
        let hidden = a.hiddenSize, qDim = a.queryDim, kvDim = a.kvDim, ffn = a.intermediateSize
        func require(_ name: String, _ shape: [Int]) throws {
            guard let stored = source.layout(of: name) else {
                throw FormatError.missingTensor(name: name, searched: "\(source.location) (the model's config implies it)")
            }
            // Quantized checkpoints store packed shapes; only float-sized tensors are compared with the config.
            let floatBytes = Set([2, 4].map { $0 * shape.reduce(1, *) })
            guard floatBytes.contains(stored.byteCount), stored.shape != shape else { return }
            throw FormatError.invalidTensor(
                path: source.location, tensor: name,
                reason: "shape \(stored.shape) does not match the config, which implies \(shape) "
                    + "(hidden_size \(hidden), intermediate_size \(ffn), vocab_size \(a.vocabSize), "
                    + "heads \(a.heads)/\(a.kvHeads) × head_dim \(a.headDim))")
        }
        try require(names.embeddings + ".weight", [a.vocabSize, hidden])
        // The last layer first: a config claiming too many layers fails on its first lookup.
        let order = a.layerCount > 1 ? [a.layerCount - 1] + Array(0..<(a.layerCount - 1)) : [0]
        for i in order {
            let p = names.layer(i) + "."
            try require(p + names.inputNorm + ".weight", [hidden])
            try require(p + names.query + ".weight", [qDim, hidden])
            try require(p + names.key + ".weight", [kvDim, hidden])
            try require(p + names.value + ".weight", [kvDim, hidden])
            try require(p + names.output + ".weight", [hidden, qDim])
            try require(p + names.postAttentionNorm + ".weight", [hidden])
            try require(p + names.gate + ".weight", [ffn, hidden])
            try require(p + names.up + ".weight", [ffn, hidden])
            try require(p + names.down + ".weight", [hidden, ffn])
        }
        try require(names.finalNorm + ".weight", [hidden])
        if !a.tiedEmbeddings || source.contains(names.lmHead + ".weight") {
            try require(names.lmHead + ".weight", [a.vocabSize, hidden])
        }
    }
}
