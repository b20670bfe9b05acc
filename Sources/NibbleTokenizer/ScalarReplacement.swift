extension String {
    /// Replaces every occurrence of `target` by `replacement`, matching Unicode scalars as the reference
    /// tokenizers do. `String`'s own search works on grapheme clusters, so it misses a space that a following
    /// combining mark joins into one `Character`.
    func replacingScalars(_ target: String, with replacement: String) -> String {
        // Matching UTF-8 bytes is matching scalars: a pattern starts with a lead byte, which never equals a
        // continuation byte, so a match can only start (and end) on a scalar boundary. One output buffer keeps
        // this linear (appending to a scalar view copies the whole string each time).
        let pattern = Array(target.utf8)
        guard let first = pattern.first else { return self }
        let bytes = Array(utf8)
        guard bytes.count >= pattern.count else { return self }
        let content = Array(replacement.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + max(0, content.count - pattern.count) * (bytes.count / pattern.count))
        var i = 0
        while i < bytes.count {
            if bytes[i] == first, i + pattern.count <= bytes.count, bytes[i..<(i + pattern.count)].elementsEqual(pattern) {
                out.append(contentsOf: content)
                i += pattern.count
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
