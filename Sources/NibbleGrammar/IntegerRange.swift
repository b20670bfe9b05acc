/// GBNF alternatives matching exactly the decimal integers in a range, in JSON syntax (no leading zeros, no -0).
enum IntegerRange {
    /// Most digits an unbounded side may use (matches the `integral-part` bound).
    static let maxDigits = 16

    static func gbnf(low: Int64?, high: Int64?) -> String {
        var alternatives: [String] = []
        // Negative part: "-" then magnitudes in [max(1, -high), -low].
        if low.map({ $0 < 0 }) ?? true {
            let magLow = high.map { $0 < 0 ? -$0 : 1 } ?? 1
            let magHigh = low.map { -$0 }
            if magHigh.map({ $0 >= magLow }) ?? true {
                alternatives.append("\"-\" (" + nonNegative(magLow, magHigh).joined(separator: " | ") + ")")
            }
        }
        let nonNegLow = max(0, low ?? 0)
        if high.map({ $0 >= nonNegLow }) ?? true {
            alternatives += nonNegative(nonNegLow, high)
        }
        return alternatives.isEmpty ? "\"0\"" : alternatives.joined(separator: " | ")
    }

    /// Integers in [low, high] (high nil: up to `maxDigits` digits), both ≥ 0.
    static func nonNegative(_ low: Int64, _ high: Int64?) -> [String] {
        var out: [String] = []
        let lowDigits = String(low).count
        let highDigits = high.map { String($0).count } ?? maxDigits
        guard lowDigits <= highDigits else { return [] }
        for length in lowDigits...highDigits {
            let first = length == 1 ? Int64(0) : pow10(length - 1)
            let last = pow10(length) - 1
            let lo = length == lowDigits ? max(low, first) : first
            let hi = length == highDigits ? (high ?? last) : last
            if lo > hi { continue }
            out += sameLength(Array(String(lo)), Array(String(hi)))
        }
        return out
    }

    private static func pow10(_ n: Int) -> Int64 {
        var v: Int64 = 1
        for _ in 0..<n { v *= 10 }
        return v
    }

    /// Digit strings of equal length in [lo, hi].
    private static func sameLength(_ lo: [Character], _ hi: [Character]) -> [String] {
        if lo.isEmpty { return [""] }
        if lo.count == 1 { return [lo[0] == hi[0] ? "\"\(lo[0])\"" : "[\(lo[0])-\(hi[0])]"] }
        let restLo = Array(lo.dropFirst()), restHi = Array(hi.dropFirst())
        if lo[0] == hi[0] {
            return sameLength(restLo, restHi).map { "\"\(lo[0])\" " + $0 }
        }
        let n = lo.count - 1
        if restLo.allSatisfy({ $0 == "0" }) && restHi.allSatisfy({ $0 == "9" }) {
            return ["[\(lo[0])-\(hi[0])] [0-9]{\(n)}"]
        }
        var out: [String] = []
        out += sameLength(restLo, Array(repeating: "9", count: n)).map { "\"\(lo[0])\" " + $0 }
        let l = lo[0].wholeNumberValue! + 1, h = hi[0].wholeNumberValue! - 1  // digits of a decimal string
        if l <= h { out.append("[\(l)-\(h)] [0-9]{\(n)}") }
        out += sameLength(Array(repeating: "0", count: n), restHi).map { "\"\(hi[0])\" " + $0 }
        return out
    }
}
