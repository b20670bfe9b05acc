import NibbleFormats
import NibbleKernels

/// A LLaMA-architecture causal LM (`LlamaForCausalLM`), computed in float32 over weights in any storage format.
public final class LlamaModel: LanguageModel {
    public let config: ModelConfig
    /// `model.embed_tokens.weight` `(vocab, hidden)`.
    public let embeddings: DenseWeight
    public let layers: [LlamaLayer]
    /// `model.norm.weight` `(hidden)`.
    public let finalNorm: [Float]
    /// `lm_head.weight` `(vocab, hidden)` (the embeddings when tied).
    public let lmHead: Linear
    let rope: RotaryEmbedding

    public init(config: ModelConfig, embeddings: DenseWeight, layers: [LlamaLayer], finalNorm: [Float], lmHead: Linear) {
        self.config = config
        self.embeddings = embeddings
        self.layers = layers
        self.finalNorm = finalNorm
        self.lmHead = lmHead
        switch config.ropeType {
        case "llama3":
            rope = RotaryEmbedding(headDim: config.headDim, theta: config.ropeTheta, llama3Factor: config.ropeScalingFactor,
                                   lowFrequencyFactor: config.ropeLowFreqFactor,
                                   highFrequencyFactor: config.ropeHighFreqFactor,
                                   originalMaxPositions: config.ropeOriginalMaxPositions)
        case "linear":
            rope = RotaryEmbedding(headDim: config.headDim, theta: config.ropeTheta, linearFactor: config.ropeScalingFactor)
        default:
            rope = RotaryEmbedding(headDim: config.headDim, theta: config.ropeTheta)
        }
    }

    public var vocabularySize: Int { config.vocabSize }
    public var maxContextLength: Int { config.maxPositionEmbeddings }

    public func makeCache(capacity: Int) -> KVCache {
        KVCache(layerCount: layers.count, kvDim: config.numKeyValueHeads * config.headDim,
                capacity: min(capacity, config.maxPositionEmbeddings))
    }

    public func forward(_ tokens: [Int], cache: KVCache, allLogits: Bool) throws -> [Float] {
        let n = tokens.count
        guard n > 0 else { throw ModelError.emptyInput }
        let start = cache.count
        guard start + n <= cache.capacity else {
            throw ModelError.contextOverflow(requested: start + n, capacity: cache.capacity)
        }
        for token in tokens where token < 0 || token >= config.vocabSize {
            throw ModelError.tokenOutOfRange(token: token, vocabularySize: config.vocabSize)
        }
        let hidden = config.hiddenSize, heads = config.numAttentionHeads, kvHeads = config.numKeyValueHeads
        let headDim = config.headDim, qDim = heads * headDim, kvDim = kvHeads * headDim
        let ffn = config.intermediateSize, eps = config.rmsNormEps

        var x = [Float](repeating: 0, count: n * hidden)          // residual stream (n, hidden)
        var h = [Float](repeating: 0, count: n * hidden)          // normed input (n, hidden)
        var q = [Float](repeating: 0, count: n * qDim)            // queries (n, heads·headDim)
        var kNew = [Float](repeating: 0, count: n * kvDim)        // new keys (n, kvDim)
        var vNew = [Float](repeating: 0, count: n * kvDim)        // new values (n, kvDim)
        var attention = [Float](repeating: 0, count: n * qDim)    // attention output (n, heads·headDim)
        var projected = [Float](repeating: 0, count: n * hidden)  // o_proj / down_proj output (n, hidden)
        var gateBuffer = [Float](repeating: 0, count: n * ffn)    // (n, ffn)
        var upBuffer = [Float](repeating: 0, count: n * ffn)      // (n, ffn)

        x.withUnsafeMutableBufferPointer { xp in
            for (i, token) in tokens.enumerated() { embeddings.row(token, into: xp.baseAddress! + i * hidden) }
        }

        for (index, layer) in layers.enumerated() {
            // Attention block.
            rmsNorm(x, weight: layer.inputNorm, eps: eps, rows: n, dim: hidden, into: &h)
            layer.q(h, rows: n, into: &q)
            layer.k(h, rows: n, into: &kNew)
            layer.v(h, rows: n, into: &vNew)
            q.withUnsafeMutableBufferPointer { qp in
                kNew.withUnsafeMutableBufferPointer { kp in
                    for i in 0..<n {
                        rope.apply(qp.baseAddress! + i * qDim, heads: heads, position: start + i)
                        rope.apply(kp.baseAddress! + i * kvDim, heads: kvHeads, position: start + i)
                    }
                }
            }
            cache.keys[index].withUnsafeMutableBufferPointer { keys in
                kNew.withUnsafeBufferPointer { keys.baseAddress!.advanced(by: start * kvDim).update(from: $0.baseAddress!, count: n * kvDim) }
            }
            cache.values[index].withUnsafeMutableBufferPointer { values in
                vNew.withUnsafeBufferPointer { values.baseAddress!.advanced(by: start * kvDim).update(from: $0.baseAddress!, count: n * kvDim) }
            }
            cache.keys[index].withUnsafeBufferPointer { keys in
                cache.values[index].withUnsafeBufferPointer { values in
                    causalAttention(queries: q, keys: keys.baseAddress!, values: values.baseAddress!, rows: n, start: start,
                                    heads: heads, kvHeads: kvHeads, headDim: headDim, output: &attention)
                }
            }
            layer.o(attention, rows: n, into: &projected)
            axpyF32(&x, 1, projected, n * hidden)  // residual add, vectorized (1·p + x is exact)

            // MLP block.
            rmsNorm(x, weight: layer.postAttentionNorm, eps: eps, rows: n, dim: hidden, into: &h)
            layer.gate(h, rows: n, into: &gateBuffer)
            layer.up(h, rows: n, into: &upBuffer)
            siluMultiply(&gateBuffer, upBuffer, n * ffn)
            layer.down(gateBuffer, rows: n, into: &projected)
            axpyF32(&x, 1, projected, n * hidden)  // residual add, vectorized (1·p + x is exact)
            if layer.offloaded {
                for (_, linear) in layer.linears { linear.weight.releaseResidentPages() }
            }
        }
        cache.count = start + n

        // Only the rows whose logits are wanted go through the final norm and the (large) lm_head.
        let firstRow = allLogits ? 0 : n - 1
        let outRows = n - firstRow
        var normed = [Float](repeating: 0, count: outRows * hidden)  // (outRows, hidden)
        x.withUnsafeBufferPointer { xp in
            rmsNorm(xp.baseAddress! + firstRow * hidden, weight: finalNorm, eps: eps, rows: outRows, dim: hidden, into: &normed)
        }
        var logits = [Float](repeating: 0, count: outRows * config.vocabSize)  // (outRows, vocab)
        lmHead(normed, rows: outRows, into: &logits)
        lmHead.weight.releaseResidentPages()
        embeddings.releaseResidentPages()
        return logits
    }
}
