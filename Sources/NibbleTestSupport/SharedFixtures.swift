import Foundation

/// Locates the shared fixtures (`../shared` beside the repository; `NIBBLE_SHARED` overrides).
///
/// Tests compare against reference numbers produced by transformers, bitsandbytes, PEFT, SentencePiece and
/// the tokenizers library; those files live outside the repository and are never copied into it.
public enum SharedFixtures {
    /// The repository root, found from this source file's location.
    public static let repositoryRoot: URL = {
        URL(fileURLWithPath: #filePath)  // .../Sources/NibbleTestSupport/SharedFixtures.swift
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }()

    /// The shared fixtures directory.
    public static let root: URL = {
        if let override = ProcessInfo.processInfo.environment["NIBBLE_SHARED"], !override.isEmpty {
            return URL(fileURLWithPath: override, isDirectory: true)
        }
        return repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared", isDirectory: true)
    }()

    /// `shared/models/<name>`.
    public static func model(_ name: String) -> URL {
        root.appendingPathComponent("models", isDirectory: true).appendingPathComponent(name, isDirectory: true)
    }

    /// `shared/reference/<name>`.
    public static func reference(_ name: String) -> URL {
        root.appendingPathComponent("reference", isDirectory: true).appendingPathComponent(name)
    }

    /// Decodes a JSON reference file.
    public static func decodeReference<T: Decodable>(_ type: T.Type, _ name: String) throws -> T {
        let data = try Data(contentsOf: reference(name))
        return try JSONDecoder().decode(T.self, from: data)
    }
}
