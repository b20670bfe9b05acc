/// A byte count written the way accelerate's `max_memory` accepts it: an integer, or "2GiB", "500MB", "1.5GB".
public struct MemorySize: Sendable, Equatable, CustomStringConvertible {
    public var bytes: Int

    public init(bytes: Int) { self.bytes = bytes }

    /// Parses "2GiB" (binary), "2GB" (decimal, as accelerate reads it), "512MiB", "100KB" or a plain integer.
    public init(parsing text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if let integer = Int(trimmed), integer >= 0 {
            bytes = integer
            return
        }
        let units: [(String, Double)] = [
            ("KIB", 1024), ("MIB", 1_048_576), ("GIB", 1_073_741_824), ("TIB", 1_099_511_627_776),
            ("KB", 1e3), ("MB", 1e6), ("GB", 1e9), ("TB", 1e12), ("B", 1),
        ]
        let upper = trimmed.uppercased()
        for (suffix, multiplier) in units where upper.hasSuffix(suffix) {
            let number = upper.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)
            guard let value = Double(number), value >= 0, value.isFinite else { break }
            bytes = Int(value * multiplier)
            return
        }
        throw ModelError.invalidOptions("cannot read memory size '\(text)' (use e.g. 2GiB, 500MB or a byte count)")
    }

    public var description: String { "\(bytes) B" }
}

import Foundation
