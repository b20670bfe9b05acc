/// The checkpoint names of a decoder's modules, as one model family spells them.
///
/// Loading, placement, the printed plan, offload, pre-quantized checkpoints and `nibble quantize` all name
/// modules through this, so a family whose checkpoints use other names only writes another layout.
public struct DecoderLayout: Sendable, Equatable {
    /// The token embedding module, e.g. `model.embed_tokens`.
    public var embeddings: String
    /// Prefix of the decoder blocks; block `i` is `"\(layers).\(i)"`.
    public var layers: String
    /// The final norm module.
    public var finalNorm: String
    /// The output projection module.
    public var lmHead: String
    /// Module names within a block.
    public var inputNorm: String, postAttentionNorm: String
    public var query: String, key: String, value: String, output: String
    /// Per-head query and key norms, for families that have them.
    public var queryNorm: String?, keyNorm: String?
    public var gate: String, up: String, down: String

    public init(embeddings: String, layers: String, finalNorm: String, lmHead: String, inputNorm: String,
                postAttentionNorm: String, query: String, key: String, value: String, output: String,
                queryNorm: String? = nil, keyNorm: String? = nil, gate: String, up: String, down: String) {
        self.embeddings = embeddings
        self.layers = layers
        self.finalNorm = finalNorm
        self.lmHead = lmHead
        self.inputNorm = inputNorm
        self.postAttentionNorm = postAttentionNorm
        self.query = query
        self.key = key
        self.value = value
        self.output = output
        self.queryNorm = queryNorm
        self.keyNorm = keyNorm
        self.gate = gate
        self.up = up
        self.down = down
    }

    /// Block `index`'s module prefix.
    public func layer(_ index: Int) -> String { "\(layers).\(index)" }

    /// The linear projections of a block (relative names), in checkpoint order.
    public var blockLinears: [String] { [query, key, value, output, gate, up, down] }

    /// Every linear module bitsandbytes replaces (embeddings and norms are not linear), in order.
    public func linearModules(layerCount: Int, hasLMHead: Bool) -> [String] {
        var modules = (0..<layerCount).flatMap { i in blockLinears.map { layer(i) + "." + $0 } }
        if hasLMHead { modules.append(lmHead) }
        return modules
    }

}
