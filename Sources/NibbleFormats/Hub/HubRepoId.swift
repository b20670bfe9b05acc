/// A Hugging Face model repository id, `ORG/NAME`.
public struct HubRepoId: Sendable, Hashable, CustomStringConvertible {
    public let organization: String
    public let name: String

    /// Parses `ORG/NAME`; both parts are limited to the characters the hub allows, so an id can never
    /// escape the cache directory.
    public init(parsing text: String) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        func valid(_ part: Substring) -> Bool {
            !part.isEmpty && part.count <= 96 && part != "." && part != ".."
                && part.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }
        }
        guard parts.count == 2, valid(parts[0]), valid(parts[1]) else {
            throw HubError.invalidRepoId(text)
        }
        organization = String(parts[0])
        name = String(parts[1])
    }

    public var description: String { "\(organization)/\(name)" }

    /// The cache folder name: `models--ORG--NAME`.
    public var cacheFolderName: String { "models--\(organization)--\(name)" }
}

/// Why a hub operation failed.
public enum HubError: Error, CustomStringConvertible, Equatable {
    case invalidRepoId(String)
    case http(url: String, status: Int)
    case unreachable(url: String, reason: String)
    case badMetadata(url: String, reason: String)
    case integrity(file: String, reason: String)
    case notCached(repo: String, revision: String, cache: String)

    public var description: String {
        switch self {
        case .invalidRepoId(let text): return "'\(text)' is not a model id of the form ORG/NAME"
        case .http(let url, let status):
            let hint = status == 401 || status == 403 ? " (set HF_TOKEN for gated or private models)" : status == 404 ? " (no such model, revision or file)" : ""
            return "\(url): HTTP \(status)\(hint)"
        case .unreachable(let url, let reason): return "\(url): \(reason)"
        case .badMetadata(let url, let reason): return "\(url): unexpected hub answer: \(reason)"
        case .integrity(let file, let reason): return "\(file): \(reason)"
        case .notCached(let repo, let revision, let cache):
            return "\(repo)@\(revision) is not in the cache at \(cache); run `nibble pull \(repo)` first"
        }
    }
}
