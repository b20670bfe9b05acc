import NibbleTokenizer

/// A tokenizer's vocabulary as a byte trie, built once per tokenizer and shared by every constrained sequence.
///
/// Nodes are stored in preorder, so a mask is one forward pass: a rejected byte skips its whole subtree by
/// jumping to `subtreeEnd`. Special and control tokens are not in the trie (never allowed as text); the end
/// tokens are allowed exactly when the grammar can end.
public final class TokenVocabulary: Sendable {
    /// Number of token ids (mask length).
    public let size: Int
    /// Ids that end generation (EOS and any extra stop ids).
    public let endTokenIds: [Int]
    /// Bytes of each token; nil for special tokens.
    public let tokenBytes: [[UInt8]?]

    /// Per trie node (preorder; node 0 is the first child of the empty root): its byte, depth (1 = first byte),
    /// the index after its subtree, and the range of token ids ending at it in `nodeTokens`.
    let nodeByte: [UInt8]
    let nodeDepth: [Int32]
    let subtreeEnd: [Int32]
    let tokenStart: [Int32]
    let nodeTokens: [Int32]
    /// Longest token in bytes.
    let maxLength: Int

    /// Builds the trie from `tokenizer.tokenBytes`. `endTokenIds` defaults to the tokenizer's EOS.
    public convenience init(tokenizer: any Tokenizer, endTokenIds: [Int]? = nil) {
        let bytes = (0..<tokenizer.vocabularySize).map { tokenizer.tokenBytes($0) }
        self.init(tokenBytes: bytes, endTokenIds: endTokenIds ?? tokenizer.eosTokenId.map { [$0] } ?? [])
    }

    /// Builds the trie from each id's bytes (nil: never allowed as text).
    public init(tokenBytes: [[UInt8]?], endTokenIds: [Int]) {
        size = tokenBytes.count
        self.tokenBytes = tokenBytes
        self.endTokenIds = endTokenIds.filter { $0 >= 0 && $0 < tokenBytes.count }
        let ends = Set(self.endTokenIds)
        // Empty tokens would let the model stall forever without moving the grammar: leave them out.
        let ordered = tokenBytes.indices
            .filter { tokenBytes[$0].map { !$0.isEmpty } ?? false && !ends.contains($0) }
            .sorted { tokenBytes[$0]!.lexicographicallyPrecedes(tokenBytes[$1]!) }
        var nodeByte: [UInt8] = [], nodeDepth: [Int32] = [], subtreeEnd: [Int32] = [], tokenStart: [Int32] = []
        var nodeTokens: [Int32] = []
        var path: [Int] = []  // node index per depth along the current path
        var pathBytes: [UInt8] = []
        var longest = 0
        for id in ordered {
            let b = tokenBytes[id]!  // filtered above
            longest = max(longest, b.count)
            var common = 0
            while common < min(b.count, pathBytes.count), b[common] == pathBytes[common] { common += 1 }
            while path.count > common {
                subtreeEnd[path.removeLast()] = Int32(nodeByte.count)
                pathBytes.removeLast()
            }
            for d in common..<b.count {
                path.append(nodeByte.count)
                pathBytes.append(b[d])
                nodeByte.append(b[d])
                nodeDepth.append(Int32(d + 1))
                subtreeEnd.append(0)
                tokenStart.append(Int32(nodeTokens.count))
            }
            nodeTokens.append(Int32(id))
        }
        for n in path { subtreeEnd[n] = Int32(nodeByte.count) }
        tokenStart.append(Int32(nodeTokens.count))
        self.nodeByte = nodeByte
        self.nodeDepth = nodeDepth
        self.subtreeEnd = subtreeEnd
        self.tokenStart = tokenStart
        self.nodeTokens = nodeTokens
        maxLength = longest
    }

    /// Number of trie nodes.
    public var nodeCount: Int { nodeByte.count }
}
