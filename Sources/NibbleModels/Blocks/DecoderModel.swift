import Foundation
import NibbleFormats
import NibbleKernels

/// A decoder-only causal LM as `DecoderArchitecture` describes it (LLaMA, Mistral, Qwen2, Qwen3, …), computed
/// in float32 over weights in any storage format.
public final class DecoderModel: LanguageModel {
    public let architecture: DecoderArchitecture
    /// Token embeddings `(vocab, hidden)`.
    public let embeddings: DenseWeight
    public let layers: [DecoderLayer]
    /// Final norm gain `(hidden)`.
    public let finalNorm: [Float]
    /// Output projection `(vocab, hidden)` (the embeddings when tied).
    public let lmHead: Linear
    let rope: RotaryEmbedding
    /// Activation buffers reused by every step; a step that finds them in use (two threads running the same
    /// model at once) allocates its own.
    nonisolated(unsafe) private let scratch: ForwardScratch
    private let scratchLock = NSLock()

    public init(architecture: DecoderArchitecture, embeddings: DenseWeight, layers: [DecoderLayer], finalNorm: [Float],
                lmHead: Linear) {
        precondition(layers.count == architecture.layerCount, "one DecoderLayer per layer")
        self.architecture = architecture
        self.embeddings = embeddings
        self.layers = layers
        self.finalNorm = finalNorm
        self.lmHead = lmHead
        rope = architecture.rope.embedding(headDim: architecture.headDim)
        scratch = ForwardScratch(hidden: architecture.hiddenSize, queryDim: architecture.queryDim,
                                 kvDim: architecture.kvDim, ffn: architecture.intermediateSize)
    }

    public var vocabularySize: Int { architecture.vocabSize }
    public var maxContextLength: Int { architecture.maxPositions }

    public func makeCache(capacity: Int) -> KVCache {
        KVCache(layerCount: layers.count, kvDim: architecture.kvDim, capacity: min(capacity, architecture.maxPositions))
    }

    public func forward(batch: [SequenceStep]) throws -> BatchLogits {
        // Everything is checked before any cache is written, so a refused step changes nothing.
        for step in batch {
            guard !step.tokens.isEmpty else { throw ModelError.emptyInput }
            guard step.tokens.count <= step.cache.room else {
                throw ModelError.contextOverflow(requested: step.cache.count + step.tokens.count, capacity: step.cache.capacity)
            }
            for token in step.tokens where token < 0 || token >= architecture.vocabSize {
                throw ModelError.tokenOutOfRange(token: token, vocabularySize: architecture.vocabSize)
            }
        }
        guard !batch.isEmpty else { return BatchLogits(values: [], vocabularySize: architecture.vocabSize, rowCounts: []) }
        let n = batch.reduce(0) { $0 + $1.tokens.count }
        let a = architecture
        let hidden = a.hiddenSize, heads = a.heads, kvHeads = a.kvHeads
        let headDim = a.headDim, qDim = a.queryDim, kvDim = a.kvDim
        let ffn = a.intermediateSize, eps = a.rmsNormEps
        // First row of each sequence in the stacked rows.
        var offsets = [Int](repeating: 0, count: batch.count)
        for i in 1..<max(1, batch.count) { offsets[i] = offsets[i - 1] + batch[i - 1].tokens.count }

        let buffers: ForwardScratch
        if scratchLock.try() {
            buffers = scratch
        } else {
            buffers = ForwardScratch(hidden: hidden, queryDim: qDim, kvDim: kvDim, ffn: ffn)
        }
        defer { if buffers === scratch { scratchLock.unlock() } }
        buffers.reserve(rows: n)
        let x = buffers.x, h = buffers.h, q = buffers.q, kNew = buffers.k, vNew = buffers.v
        let attention = buffers.attention, projected = buffers.projected, gate = buffers.gate, up = buffers.up

        for (s, step) in batch.enumerated() {
            for (i, token) in step.tokens.enumerated() { embeddings.row(token, into: x + (offsets[s] + i) * hidden) }
        }

        for (index, layer) in layers.enumerated() {
            // Attention block.
            rmsNorm(x, weight: layer.inputNorm, eps: eps, rows: n, dim: hidden, into: h)
            // q, k and v read the same input: one parallel dispatch for the three.
            Linear.apply([(layer.q, q), (layer.k, kNew), (layer.v, vNew)], to: h, rows: n)
            if let qNorm = layer.qNorm, let kNorm = layer.kNorm {
                // Each head vector is normalized on its own, before the rotation.
                rmsNorm(q, weight: qNorm, eps: eps, rows: n * heads, dim: headDim, into: q)
                rmsNorm(kNew, weight: kNorm, eps: eps, rows: n * kvHeads, dim: headDim, into: kNew)
            }
            for (s, step) in batch.enumerated() {
                let first = offsets[s], rows = step.tokens.count, start = step.cache.count
                for i in 0..<rows {
                    rope.apply(queries: q + (first + i) * qDim, heads: heads, keys: kNew + (first + i) * kvDim,
                               kvHeads: kvHeads, position: start + i)
                }
                step.cache.store(layer: index, keys: kNew + first * kvDim, values: vNew + first * kvDim, rows: rows)
            }
            // Every sequence's (row, head) pairs in one parallel loop.
            let entries = batch.indices.map { s -> KVCache.AttentionEntry in
                (cache: batch[s].cache, queries: UnsafePointer(q + offsets[s] * qDim), rows: batch[s].tokens.count,
                 output: attention + offsets[s] * qDim)
            }
            KVCache.attend(entries, layer: index, heads: heads, headDim: headDim, window: layer.window)
            layer.o(attention, rows: n, into: projected)
            axpyF32(x, 1, projected, n * hidden)  // residual add, vectorized (1·p + x is exact)

            // MLP block.
            rmsNorm(x, weight: layer.postAttentionNorm, eps: eps, rows: n, dim: hidden, into: h)
            Linear.apply([(layer.gate, gate), (layer.up, up)], to: h, rows: n)
            siluMultiply(gate, up, n * ffn)
            layer.down(gate, rows: n, into: projected)
            axpyF32(x, 1, projected, n * hidden)  // residual add, vectorized (1·p + x is exact)
            if layer.offloaded {
                for linear in layer.linears { linear.weight.releaseResidentPages() }
            }
        }
        for step in batch { step.cache.advance(by: step.tokens.count) }
        if let window = architecture.windowOfEveryLayer {
            for step in batch { step.cache.releaseBlocks(outsideWindow: window) }
        }

        // Only the rows whose logits are wanted go through the final norm and the (large) lm_head.
        var wanted: [Int] = []  // stacked row indices, in batch order
        for (s, step) in batch.enumerated() {
            let first = offsets[s], rows = step.tokens.count
            switch step.logits {
            case .none: break
            case .last: wanted.append(first + rows - 1)
            case .all: wanted.append(contentsOf: first..<(first + rows))
            }
        }
        var logits = [Float](repeating: 0, count: wanted.count * a.vocabSize)  // (wanted, vocab)
        if !wanted.isEmpty {
            var normed = [Float](repeating: 0, count: wanted.count * hidden)  // (wanted, hidden)
            normed.withUnsafeMutableBufferPointer { np in
                for (j, row) in wanted.enumerated() {
                    rmsNorm(x + row * hidden, weight: finalNorm, eps: eps, rows: 1, dim: hidden, into: np.baseAddress! + j * hidden)
                }
            }
            lmHead(normed, rows: wanted.count, into: &logits)
            lmHead.weight.releaseResidentPages()
        }
        embeddings.releaseResidentPages()

        let counts = batch.map { $0.logits == .none ? 0 : $0.logits == .last ? 1 : $0.tokens.count }
        return BatchLogits(values: logits, vocabularySize: a.vocabSize, rowCounts: counts)
    }
}
