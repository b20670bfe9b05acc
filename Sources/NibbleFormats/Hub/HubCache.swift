import Foundation

/// The Hugging Face hub cache on disk, in the layout huggingface_hub uses, so models pulled by either tool are
/// shared:
/// `hub/models--ORG--NAME/{blobs/<etag>, snapshots/<commit>/<file> → ../../blobs/<etag>, refs/<revision>}`.
public struct HubCache: Sendable {
    /// The `hub` directory.
    public let root: URL

    public init(root: URL) { self.root = root }

    /// `HF_HUB_CACHE`, else `HF_HOME/hub`, else `XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> HubCache {
        if let cache = environment["HF_HUB_CACHE"], !cache.isEmpty { return HubCache(root: URL(fileURLWithPath: cache)) }
        if let home = environment["HF_HOME"], !home.isEmpty {
            return HubCache(root: URL(fileURLWithPath: home).appendingPathComponent("hub"))
        }
        let base = environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache")
        return HubCache(root: base.appendingPathComponent("huggingface/hub"))
    }

    /// `models--ORG--NAME`.
    public func repositoryFolder(_ repo: HubRepoId) -> URL { root.appendingPathComponent(repo.cacheFolderName) }

    /// `blobs/<etag>`.
    public func blob(_ repo: HubRepoId, etag: String) -> URL {
        repositoryFolder(repo).appendingPathComponent("blobs").appendingPathComponent(etag)
    }

    /// `snapshots/<commit>`.
    public func snapshotFolder(_ repo: HubRepoId, commit: String) -> URL {
        repositoryFolder(repo).appendingPathComponent("snapshots").appendingPathComponent(commit)
    }

    /// The cached snapshot for a revision (a branch or tag through `refs/`, or a commit hash), offline.
    public func snapshot(_ repo: HubRepoId, revision: String = "main") -> URL? {
        let folder = repositoryFolder(repo)
        var commit = revision
        if !Self.isCommitHash(revision) {
            let ref = folder.appendingPathComponent("refs").appendingPathComponent(revision)
            guard let text = try? String(contentsOf: ref, encoding: .utf8) else { return nil }
            commit = text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard Self.isCommitHash(commit) else { return nil }
        let snapshot = snapshotFolder(repo, commit: commit)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: snapshot.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            return nil
        }
        return snapshot
    }

    /// Records which commit a revision points at.
    func writeRef(_ repo: HubRepoId, revision: String, commit: String) throws {
        guard revision != commit else { return }
        let refs = repositoryFolder(repo).appendingPathComponent("refs")
        try FileManager.default.createDirectory(at: refs, withIntermediateDirectories: true)
        try Data(commit.utf8).write(to: refs.appendingPathComponent(revision), options: .atomic)
    }

    /// Points `snapshots/<commit>/<path>` at its blob with a relative link, as huggingface_hub does.
    func link(_ repo: HubRepoId, commit: String, path: String, etag: String) throws {
        let fm = FileManager.default
        let target = snapshotFolder(repo, commit: commit).appendingPathComponent(path)
        try fm.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
        let depth = path.split(separator: "/").count + 1  // snapshots/<commit>/<dirs…>/file → back to the repo folder
        let relative = String(repeating: "../", count: depth) + "blobs/" + etag
        if (try? fm.destinationOfSymbolicLink(atPath: target.path)) == relative { return }
        try? fm.removeItem(at: target)
        try fm.createSymbolicLink(atPath: target.path, withDestinationPath: relative)
    }

    /// Whether text is a 40-hex-digit commit id.
    static func isCommitHash(_ text: String) -> Bool {
        text.count == 40 && text.allSatisfy { $0.isHexDigit && ($0.isNumber || $0.isLowercase) }
    }
}
