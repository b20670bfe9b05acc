extension String {
    /// Replaces every occurrence of `target` by `replacement`, matching Unicode scalars as the reference
    /// tokenizers do. `String`'s own search works on grapheme clusters, so it misses a space that a following
    /// combining mark joins into one `Character`.
    func replacingScalars(_ target: String, with replacement: String) -> String {
        let pattern = Array(target.unicodeScalars)
        guard !pattern.isEmpty else { return self }
        let scalars = Array(unicodeScalars)
        guard scalars.count >= pattern.count else { return self }
        var out = String.UnicodeScalarView()
        var i = 0
        while i < scalars.count {
            if scalars[i] == pattern[0], i + pattern.count <= scalars.count,
               scalars[i..<(i + pattern.count)].elementsEqual(pattern) {
                out.append(contentsOf: replacement.unicodeScalars)
                i += pattern.count
            } else {
                out.append(scalars[i])
                i += 1
            }
        }
        return String(out)
    }
}
