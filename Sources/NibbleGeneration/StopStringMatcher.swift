/// Finds stop strings in streamed text without ever releasing text that may turn out to be part of one.
///
/// Text is compared as UTF-8 bytes. Any tail of the pending text that is a prefix of some stop string is held
/// back until later text decides it; since such a tail starts with a stop string's first byte (a scalar
/// boundary), released text is always valid UTF-8.
public struct StopStringMatcher: Sendable {
    /// What appending text produced.
    public enum Outcome: Sendable, Equatable {
        /// Text that can be released now (possibly empty); generation continues.
        case text(String)
        /// A stop string matched: `text` is the releasable output before it; anything after is dropped.
        case stopped(text: String, stop: String)
    }

    public let stopStrings: [String]
    private let patterns: [[UInt8]]
    private var pending: [UInt8] = []

    public init(stopStrings: [String]) {
        self.stopStrings = stopStrings.filter { !$0.isEmpty }
        patterns = self.stopStrings.map { Array($0.utf8) }
    }

    /// Text currently held back as a possible stop-string start.
    public var heldBack: String { String(decoding: pending, as: UTF8.self) }

    /// Adds newly decoded text.
    public mutating func append(_ text: String) -> Outcome {
        if patterns.isEmpty { return .text(text) }
        pending.append(contentsOf: text.utf8)
        if let (start, index) = earliestMatch() {
            let released = String(decoding: pending[..<start], as: UTF8.self)
            pending.removeAll()
            return .stopped(text: released, stop: stopStrings[index])
        }
        let keep = longestPartialSuffix()
        let cut = pending.count - keep
        let released = String(decoding: pending[..<cut], as: UTF8.self)
        pending.removeFirst(cut)
        return .text(released)
    }

    /// Releases what was held back: the text ended (EOS, length) without completing a stop string.
    public mutating func flush() -> String {
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }

    /// Start of the earliest full match; on a tie at the same start, the first listed stop string wins.
    private func earliestMatch() -> (Int, Int)? {
        var best: (Int, Int)?
        for (index, pattern) in patterns.enumerated() where pattern.count <= pending.count {
            let lastStart = pending.count - pattern.count
            let limit = best.map { min($0.0 - 1, lastStart) } ?? lastStart
            guard limit >= 0 else { continue }
            var start = 0
            while start <= limit {
                if pending[start] == pattern[0] && pending[start..<start + pattern.count].elementsEqual(pattern) {
                    best = (start, index)
                    break
                }
                start += 1
            }
        }
        return best
    }

    /// Length of the longest tail of `pending` that is a proper prefix of some stop string.
    private func longestPartialSuffix() -> Int {
        var longest = 0
        for pattern in patterns {
            var length = min(pattern.count - 1, pending.count)
            while length > longest {
                if pending[(pending.count - length)...].elementsEqual(pattern[..<length]) {
                    longest = length
                    break
                }
                length -= 1
            }
        }
        return longest
    }
}
