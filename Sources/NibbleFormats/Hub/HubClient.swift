import Crypto
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One file of a hub repository, as the hub's model API describes it.
public struct HubFile: Sendable, Equatable {
    /// Path inside the repository (`model-00001-of-00002.safetensors`, `tokenizer.json`).
    public var path: String
    /// Size in bytes.
    public var size: Int
    /// SHA-256 of the content for files stored with LFS (the weights).
    public var sha256: String?
    /// Git blob id (SHA-1 of `"blob <size>\0" + content`) for small files.
    public var blobId: String?

    public init(path: String, size: Int, sha256: String? = nil, blobId: String? = nil) {
        self.path = path
        self.size = size
        self.sha256 = sha256
        self.blobId = blobId
    }

    /// The blob name in the cache: the LFS SHA-256, else the git blob id (what the hub's ETag holds).
    public var etag: String { sha256 ?? blobId ?? "" }
}

/// Where a pull stands, for progress bars.
public struct HubProgress: Sendable {
    public var file: String
    public var fileIndex: Int
    public var fileCount: Int
    /// Bytes of this file present so far (including a resumed part).
    public var bytes: Int
    public var totalBytes: Int
}

/// Downloads model snapshots from the Hugging Face hub (or anything serving its routes) into the cache.
public struct HubClient: Sendable {
    /// `HF_ENDPOINT`, default `https://huggingface.co`.
    public let endpoint: URL
    /// `HF_TOKEN`, sent as a bearer token when present.
    public let token: String?
    public let cache: HubCache

    public init(endpoint: URL, token: String?, cache: HubCache) {
        self.endpoint = endpoint
        self.token = token
        self.cache = cache
    }

    /// A client configured the way huggingface_hub reads the environment.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> HubClient {
        let endpoint = environment["HF_ENDPOINT"].flatMap { $0.isEmpty ? nil : URL(string: $0) } ?? URL(string: "https://huggingface.co")!
        let token = environment["HF_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        return HubClient(endpoint: endpoint, token: token, cache: .fromEnvironment(environment))
    }

    /// The commit a revision points at and the files there (`GET /api/models/ORG/NAME/revision/REV?blobs=true`).
    public func fileList(_ repo: HubRepoId, revision: String = "main") async throws -> (commit: String, files: [HubFile]) {
        let url = endpoint.appendingPathComponent("api/models/\(repo.organization)/\(repo.name)/revision/\(revision)")
        var components = URLComponents(url: url, resolvingAgainstBaseURL: false)!
        components.queryItems = [URLQueryItem(name: "blobs", value: "true")]
        let request = makeRequest(components.url!)
        let data: Data, response: URLResponse
        do {
            (data, response) = try await URLSession.shared.data(for: request)
        } catch {
            throw HubError.unreachable(url: request.url!.absoluteString, reason: error.localizedDescription)
        }
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard status == 200 else { throw HubError.http(url: request.url!.absoluteString, status: status) }
        guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
              let commit = root["sha"] as? String, HubCache.isCommitHash(commit),
              let siblings = root["siblings"] as? [[String: Any]] else {
            throw HubError.badMetadata(url: request.url!.absoluteString, reason: "missing sha or siblings")
        }
        var files: [HubFile] = []
        for sibling in siblings {
            guard let path = sibling["rfilename"] as? String else { continue }
            guard Self.isSafeRelativePath(path) else {
                throw HubError.badMetadata(url: request.url!.absoluteString, reason: "unsafe file name '\(path)'")
            }
            let lfs = sibling["lfs"] as? [String: Any]
            let size = (lfs?["size"] as? NSNumber)?.intValue ?? (sibling["size"] as? NSNumber)?.intValue ?? -1
            files.append(HubFile(path: path, size: size, sha256: lfs?["sha256"] as? String ?? lfs?["oid"] as? String,
                                 blobId: sibling["blobId"] as? String))
        }
        return (commit, files)
    }

    /// Downloads the files a model needs into the cache (resuming partial downloads and verifying sizes and
    /// checksums) and returns the snapshot directory.
    public func pull(_ repo: HubRepoId, revision: String = "main",
                     progress: (@Sendable (HubProgress) -> Void)? = nil) async throws -> URL {
        let (commit, listed) = try await fileList(repo, revision: revision)
        let files = Self.modelFiles(listed)
        for (index, file) in files.enumerated() {
            guard !file.etag.isEmpty, file.size >= 0 else {
                throw HubError.badMetadata(url: endpoint.absoluteString, reason: "no size or checksum for '\(file.path)'")
            }
            let blob = cache.blob(repo, etag: file.etag)
            if !Self.isComplete(blob, file: file) {
                let url = endpoint.appendingPathComponent("\(repo.organization)/\(repo.name)/resolve/\(commit)/\(file.path)")
                try await download(url, file: file, to: blob) { bytes in
                    progress?(HubProgress(file: file.path, fileIndex: index, fileCount: files.count, bytes: bytes, totalBytes: file.size))
                }
            }
            progress?(HubProgress(file: file.path, fileIndex: index, fileCount: files.count, bytes: file.size, totalBytes: file.size))
            try cache.link(repo, commit: commit, path: file.path, etag: file.etag)
        }
        try cache.writeRef(repo, revision: revision, commit: commit)
        return cache.snapshotFolder(repo, commit: commit)
    }

    /// The files worth fetching: everything but other frameworks' weight formats when safetensors exist.
    public static func modelFiles(_ files: [HubFile]) -> [HubFile] {
        let hasSafetensors = files.contains { $0.path.hasSuffix(".safetensors") }
        let otherWeights = [".bin", ".pt", ".pth", ".ckpt", ".h5", ".msgpack", ".onnx", ".gguf", ".ot", ".tflite", ".onnx_data"]
        return files.filter { file in
            guard hasSafetensors else { return true }
            return !otherWeights.contains { file.path.hasSuffix($0) } && !file.path.hasPrefix("onnx/")
        }
    }

    // MARK: - Downloading one file

    private func makeRequest(_ url: URL) -> URLRequest {
        var request = URLRequest(url: url)
        request.setValue("nibble/0.1", forHTTPHeaderField: "User-Agent")
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        return request
    }

    private func download(_ url: URL, file: HubFile, to blob: URL, progress: @escaping @Sendable (Int) -> Void) async throws {
        let fm = FileManager.default
        try fm.createDirectory(at: blob.deletingLastPathComponent(), withIntermediateDirectories: true)
        let partial = URL(fileURLWithPath: blob.path + ".incomplete")
        var existing = (try? fm.attributesOfItem(atPath: partial.path)[.size] as? NSNumber)?.intValue ?? 0
        if existing > file.size { existing = 0 }
        if existing == 0 { fm.createFile(atPath: partial.path, contents: nil) }
        var request = makeRequest(url)
        if existing > 0 { request.setValue("bytes=\(existing)-", forHTTPHeaderField: "Range") }
        let sink = try DownloadSink(path: partial.path, resumeAt: existing, progress: progress)
        try await sink.run(request)
        let size = (try fm.attributesOfItem(atPath: partial.path)[.size] as? NSNumber)?.intValue ?? -1
        guard size == file.size else {
            throw HubError.integrity(file: file.path, reason: "downloaded \(size) bytes, the hub lists \(file.size); run pull again to resume")
        }
        try Self.verify(partial, file: file)
        try? fm.removeItem(at: blob)
        try fm.moveItem(at: partial, to: blob)
    }

    private static func isComplete(_ blob: URL, file: HubFile) -> Bool {
        guard let size = (try? FileManager.default.attributesOfItem(atPath: blob.path)[.size] as? NSNumber)?.intValue else {
            return false
        }
        return size == file.size
    }

    /// Checks the SHA-256 (LFS files) or the git blob id (small files) of a downloaded file.
    static func verify(_ url: URL, file: HubFile) throws {
        let handle = try FileHandle(forReadingFrom: url)
        defer { try? handle.close() }
        if let expected = file.sha256 {
            var hasher = SHA256()
            while let chunk = try handle.read(upToCount: 1 << 22), !chunk.isEmpty { hasher.update(data: chunk) }
            let digest = hasher.finalize().map { String(format: "%02x", $0) }.joined()
            guard digest == expected.lowercased() else {
                try? FileManager.default.removeItem(at: url)
                throw HubError.integrity(file: file.path, reason: "sha256 \(digest) does not match the hub's \(expected); the partial file was removed")
            }
        } else if let expected = file.blobId {
            var hasher = Insecure.SHA1()
            hasher.update(data: Data("blob \(file.size)\u{0}".utf8))
            while let chunk = try handle.read(upToCount: 1 << 22), !chunk.isEmpty { hasher.update(data: chunk) }
            let digest = hasher.finalize().map { String(format: "%02x", $0) }.joined()
            guard digest == expected.lowercased() else {
                try? FileManager.default.removeItem(at: url)
                throw HubError.integrity(file: file.path, reason: "git blob id \(digest) does not match the hub's \(expected)")
            }
        }
    }

    static func isSafeRelativePath(_ path: String) -> Bool {
        !path.isEmpty && !path.hasPrefix("/") && !path.split(separator: "/").contains("..") && !path.contains("\\")
    }
}

/// Streams one HTTP response body into a file, appending after a resumed prefix.
private final class DownloadSink: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    private let handle: FileHandle
    private let path: String
    private var written: Int
    private let resumeAt: Int
    private let progress: @Sendable (Int) -> Void
    private var continuation: CheckedContinuation<Void, any Error>?
    private var failure: (any Error)?
    private let lock = NSLock()

    init(path: String, resumeAt: Int, progress: @escaping @Sendable (Int) -> Void) throws {
        self.path = path
        self.resumeAt = resumeAt
        written = resumeAt
        self.progress = progress
        handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
    }

    func run(_ request: URLRequest) async throws {
        let session = URLSession(configuration: .ephemeral, delegate: self, delegateQueue: nil)
        defer { session.finishTasksAndInvalidate() }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            lock.withLock { self.continuation = continuation }
            session.dataTask(with: request).resume()
        }
        try handle.close()
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping @Sendable (URLSession.ResponseDisposition) -> Void) {
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        if status == 200 && resumeAt > 0 {
            // The server ignored the Range header: start the file over.
            try? handle.truncate(atOffset: 0)
            written = 0
        } else if status != 200 && status != 206 {
            failure = HubError.http(url: response.url?.absoluteString ?? "", status: status)
            completionHandler(.cancel)
            return
        }
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        do {
            try handle.write(contentsOf: data)
            written += data.count
            progress(written)
        } catch {
            failure = error
            dataTask.cancel()
        }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        let continuation = lock.withLock { () -> CheckedContinuation<Void, any Error>? in
            defer { self.continuation = nil }
            return self.continuation
        }
        if let failure {
            continuation?.resume(throwing: failure)
        } else if let error {
            continuation?.resume(throwing: HubError.unreachable(url: task.originalRequest?.url?.absoluteString ?? "",
                                                                reason: error.localizedDescription))
        } else {
            continuation?.resume()
        }
    }
}
