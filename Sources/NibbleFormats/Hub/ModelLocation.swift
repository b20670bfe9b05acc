import Foundation

/// Where a model named by the user lives: an existing directory or `.gguf` file, else `ORG/NAME[@REVISION]` in the hub cache.
public enum ModelLocation {
    /// Resolves `reference` offline.
    /// - Parameters:
    ///   - currentDirectory: relative paths are taken against it.
    ///   - environment: supplies `HF_HUB_CACHE` / `HF_HOME` for the cache.
    /// - Throws: `HubError.notCached` for a hub id that was never pulled; `HubError.invalidRepoId` for a name that
    ///   is neither an existing directory nor a hub id.
    public static func resolve(_ reference: String, currentDirectory: URL,
                               environment: [String: String] = ProcessInfo.processInfo.environment) throws -> URL {
        let expanded = (reference as NSString).expandingTildeInPath
        let candidate = expanded.hasPrefix("/")
            ? URL(fileURLWithPath: expanded, isDirectory: true)
            : currentDirectory.appendingPathComponent(expanded, isDirectory: true)
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: candidate.path, isDirectory: &isDirectory), isDirectory.boolValue {
            return candidate.standardizedFileURL
        }
        // A single-file model (GGUF) is named by its path.
        let file = URL(fileURLWithPath: candidate.path, isDirectory: false)
        if file.pathExtension.lowercased() == "gguf", FileManager.default.fileExists(atPath: file.path) {
            return file.standardizedFileURL
        }
        let parts = reference.split(separator: "@", maxSplits: 1).map(String.init)
        guard !reference.hasPrefix("."), !expanded.hasPrefix("/"), let repo = try? HubRepoId(parsing: parts[0]) else {
            throw HubError.invalidRepoId(reference)
        }
        let cache = HubCache.fromEnvironment(environment)
        let revision = parts.count > 1 ? parts[1] : "main"
        guard let snapshot = cache.snapshot(repo, revision: revision) else {
            throw HubError.notCached(repo: repo.description, revision: revision, cache: cache.root.path)
        }
        return snapshot
    }
}
