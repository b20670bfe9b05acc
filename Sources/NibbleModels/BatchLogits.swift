/// The logits a batched step returns: every wanted row of every sequence in one buffer, handed out as views, so
/// a step with many sequences holds its logits once instead of once more per sequence.
public struct BatchLogits: RandomAccessCollection, Sendable {
    /// `(rows, vocab)`: the returned rows of every step, in batch order.
    public let values: [Float]
    public let vocabularySize: Int
    /// Per step, the range of its rows in `values`.
    private let rowRanges: [Range<Int>]

    /// - Parameter rowCounts: per step, how many rows of `values` are its (0, 1 or its token count), in order.
    public init(values: [Float], vocabularySize: Int, rowCounts: [Int]) {
        var ranges: [Range<Int>] = []
        ranges.reserveCapacity(rowCounts.count)
        var next = 0
        for count in rowCounts {
            ranges.append(next..<(next + count))
            next += count
        }
        precondition(next * vocabularySize == values.count, "one (vocab) row of values per returned row")
        self.values = values
        self.vocabularySize = vocabularySize
        rowRanges = ranges
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { rowRanges.count }

    /// Step `index`'s logits as its `logits` asked: empty, `(vocab)` or `(tokens, vocab)` — a view into `values`.
    public subscript(index: Int) -> ArraySlice<Float> {
        let rows = rowRanges[index]
        return values[(rows.lowerBound * vocabularySize)..<(rows.upperBound * vocabularySize)]
    }
}
