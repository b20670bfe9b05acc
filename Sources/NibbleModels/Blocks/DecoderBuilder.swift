import NibbleFormats
import NibbleKernels

/// Builds a `DecoderModel` from a checkpoint: each module found by the family's `DecoderLayout`, each weight
/// made by `WeightBuilder` in whatever format placement and quantization decided.
struct DecoderBuilder {
    let architecture: DecoderArchitecture
    let layout: DecoderLayout
    let weights: WeightBuilder

    func build(memory: inout WeightMemoryReport, progress: (Double) -> Void) throws -> DecoderModel {
        let a = architecture, names = layout
        let hidden = a.hiddenSize, qDim = a.queryDim, kvDim = a.kvDim, ffn = a.intermediateSize

        let embedView = try weights.archive.tensor(names.embeddings + ".weight")
        let embedOnDisk = weights.plan.tier(of: names.embeddings) == .disk
        let embeddings = try weights.dense(embedView, outFeatures: a.vocabSize, inFeatures: hidden, mapped: embedOnDisk)
        memory.add(bytes: embeddings.storageBytes, parameters: a.vocabSize * hidden, tier: embedOnDisk ? "disk" : "cpu",
                   format: embeddings.formatName, moduleKind: WeightBuilder.moduleKind(names.embeddings))

        var layers: [DecoderLayer] = []
        for i in 0..<a.layerCount {
            let p = names.layer(i) + "."
            func linear(_ name: String, _ out: Int, _ inp: Int, bias: Bool) throws -> Linear {
                try weights.linear(p + name, outFeatures: out, inFeatures: inp, hasBias: bias, memory: &memory)
            }
            func norm(_ name: String, _ count: Int) throws -> [Float] {
                try weights.vector(p + name + ".weight", count: count, memory: &memory)
            }
            var qNorm: [Float]?, kNorm: [Float]?
            if a.normalizesQueriesAndKeys {
                guard let q = names.queryNorm, let k = names.keyNorm else {
                    throw ModelError.invalidOptions("the architecture normalizes queries and keys, but its layout names no norms")
                }
                qNorm = try norm(q, a.headDim)
                kNorm = try norm(k, a.headDim)
            }
            layers.append(DecoderLayer(
                inputNorm: try norm(names.inputNorm, hidden),
                q: try linear(names.query, qDim, hidden, bias: a.biases.query),
                k: try linear(names.key, kvDim, hidden, bias: a.biases.key),
                v: try linear(names.value, kvDim, hidden, bias: a.biases.value),
                o: try linear(names.output, hidden, qDim, bias: a.biases.output),
                qNorm: qNorm, kNorm: kNorm,
                postAttentionNorm: try norm(names.postAttentionNorm, hidden),
                gate: try linear(names.gate, ffn, hidden, bias: a.biases.mlp),
                up: try linear(names.up, ffn, hidden, bias: a.biases.mlp),
                down: try linear(names.down, hidden, ffn, bias: a.biases.mlp),
                window: a.windows[i],
                offloaded: weights.plan.tier(of: names.layer(i)) == .disk))
            progress(Double(i + 1) / Double(a.layerCount + 1))
        }
        let finalNorm = try weights.vector(names.finalNorm + ".weight", count: hidden, memory: &memory)
        let lmHead: Linear
        if !a.tiedEmbeddings || weights.archive.contains(names.lmHead + ".weight") {
            lmHead = try weights.linear(names.lmHead, outFeatures: a.vocabSize, inFeatures: hidden, hasBias: false, memory: &memory)
        } else {
            lmHead = weights.tiedOutputHead(embeddings, name: names.lmHead, memory: &memory)
        }
        progress(1)
        return DecoderModel(architecture: a, embeddings: embeddings, layers: layers, finalNorm: finalNorm, lmHead: lmHead)
    }
}
