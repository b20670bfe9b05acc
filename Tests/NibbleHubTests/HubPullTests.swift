import Foundation
import Hummingbird
import HummingbirdTesting
import NibbleFormats
import NibbleTestSupport
import Testing

/// `nibble pull` against a local server imitating the hub: cache layout, resume, integrity, tokens, offline lookup.
@Suite struct HubPullTests {
    static func kjvFiles() throws -> [FakeHub.File] {
        let directory = SharedFixtures.model("kjv-llama-4m")
        var files: [FakeHub.File] = []
        for name in ["config.json", "generation_config.json", "tokenizer.json", "tokenizer.model", "tokenizer_config.json",
                     "special_tokens_map.json", "model.safetensors"] {
            let lfs = name.hasSuffix(".safetensors") || name == "tokenizer.model"
            files.append(.init(path: name, content: try Data(contentsOf: directory.appendingPathComponent(name)), lfs: lfs))
        }
        // Another framework's weights: skipped because safetensors exist.
        files.append(.init(path: "pytorch_model.bin", content: Data(repeating: 7, count: 1000), lfs: true))
        files.append(.init(path: "extra/notes.txt", content: Data("nested file".utf8), lfs: false))
        return files
    }

    static func temporaryCache() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("nibble-hub-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func withHub(_ hub: FakeHub, _ body: @Sendable (URL) async throws -> Void) async throws {
        let app = Application(router: hub.router(), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            let port = try #require(client.port)
            try await body(URL(string: "http://127.0.0.1:\(port)")!)
        }
    }

    @Test func pullWritesTheHubCacheLayout() async throws {
        let hub = FakeHub(organization: "nibble", name: "kjv-llama-4m", files: try Self.kjvFiles())
        let cacheRoot = try Self.temporaryCache()
        defer { try? FileManager.default.removeItem(at: cacheRoot) }
        try await Self.withHub(hub) { endpoint in
            let client = HubClient(endpoint: endpoint, token: nil, cache: HubCache(root: cacheRoot))
            let repo = try HubRepoId(parsing: "nibble/kjv-llama-4m")
            let snapshot = try await client.pull(repo)
            #expect(snapshot.lastPathComponent == hub.commit)
            let folder = cacheRoot.appendingPathComponent("models--nibble--kjv-llama-4m")
            let ref = try String(contentsOf: folder.appendingPathComponent("refs/main"), encoding: .utf8)
            #expect(ref == hub.commit)
            for file in hub.files where file.path != "pytorch_model.bin" {
                let link = snapshot.appendingPathComponent(file.path)
                let destination = try FileManager.default.destinationOfSymbolicLink(atPath: link.path)
                #expect(destination.contains("blobs/"), "\(file.path) links into blobs")
                #expect(try Data(contentsOf: link) == file.content, "\(file.path) content")
            }
            #expect(!FileManager.default.fileExists(atPath: snapshot.appendingPathComponent("pytorch_model.bin").path))
            // Offline: the cache alone resolves the model, and it is a readable checkpoint.
            #expect(HubCache(root: cacheRoot).snapshot(repo) == snapshot)
            #expect(try ModelConfig(directory: snapshot).hiddenSize == 192)
            #expect(try SafetensorsArchive(directory: snapshot).contains("lm_head.weight"))
            // A second pull downloads nothing.
            let before = hub.served.withLock { $0 }
            _ = try await client.pull(repo)
            #expect(hub.served.withLock { $0 } == before)
        }
    }

    @Test func partialDownloadsResume() async throws {
        let hub = FakeHub(organization: "nibble", name: "kjv", files: try Self.kjvFiles())
        let cacheRoot = try Self.temporaryCache()
        defer { try? FileManager.default.removeItem(at: cacheRoot) }
        let weights = hub.files.first { $0.path == "model.safetensors" }!
        let sha = FakeHub.hex(Crypto.SHA256.hash(data: weights.content))
        let blobs = cacheRoot.appendingPathComponent("models--nibble--kjv/blobs")
        try FileManager.default.createDirectory(at: blobs, withIntermediateDirectories: true)
        let half = weights.content.count / 2
        try weights.content.prefix(half).write(to: blobs.appendingPathComponent(sha + ".incomplete"))
        try await Self.withHub(hub) { endpoint in
            let client = HubClient(endpoint: endpoint, token: nil, cache: HubCache(root: cacheRoot))
            let snapshot = try await client.pull(try HubRepoId(parsing: "nibble/kjv"))
            #expect(hub.served.withLock { $0["model.safetensors"] } == weights.content.count - half)
            #expect(try Data(contentsOf: snapshot.appendingPathComponent("model.safetensors")) == weights.content)
            #expect(!FileManager.default.fileExists(atPath: blobs.appendingPathComponent(sha + ".incomplete").path))
        }
    }

    @Test func corruptedDownloadIsRejected() async throws {
        let hub = FakeHub(organization: "nibble", name: "kjv", files: try Self.kjvFiles())
        hub.corrupt.withLock { _ = $0.insert("model.safetensors") }
        let cacheRoot = try Self.temporaryCache()
        defer { try? FileManager.default.removeItem(at: cacheRoot) }
        try await Self.withHub(hub) { endpoint in
            let client = HubClient(endpoint: endpoint, token: nil, cache: HubCache(root: cacheRoot))
            let repo = try HubRepoId(parsing: "nibble/kjv")
            await #expect(throws: HubError.self) { try await client.pull(repo) }
            #expect(HubCache(root: cacheRoot).snapshot(repo) == nil)
        }
    }

    @Test func tokensAndErrors() async throws {
        let hub = FakeHub(organization: "gated", name: "model", files: [.init(path: "config.json", content: Data("{}".utf8), lfs: false)],
                          requireToken: true)
        let cacheRoot = try Self.temporaryCache()
        defer { try? FileManager.default.removeItem(at: cacheRoot) }
        try await Self.withHub(hub) { endpoint in
            let anonymous = HubClient(endpoint: endpoint, token: nil, cache: HubCache(root: cacheRoot))
            let repo = try HubRepoId(parsing: "gated/model")
            await #expect(throws: HubError.http(url: endpoint.absoluteString + "/api/models/gated/model/revision/main?blobs=true", status: 401)) {
                try await anonymous.pull(repo)
            }
            let authorized = HubClient(endpoint: endpoint, token: "secret", cache: HubCache(root: cacheRoot))
            let snapshot = try await authorized.pull(repo)
            #expect(FileManager.default.fileExists(atPath: snapshot.appendingPathComponent("config.json").path))
            await #expect(throws: HubError.self) { try await authorized.pull(try HubRepoId(parsing: "gated/missing")) }
        }
    }

    @Test func repoIdsAndEnvironment() throws {
        #expect(throws: HubError.self) { try HubRepoId(parsing: "../etc") }
        #expect(throws: HubError.self) { try HubRepoId(parsing: "a/b/c") }
        #expect(throws: HubError.self) { try HubRepoId(parsing: "noslash") }
        #expect(try HubRepoId(parsing: "TheBloke/Llama-2-7B-fp16").cacheFolderName == "models--TheBloke--Llama-2-7B-fp16")
        #expect(HubCache.fromEnvironment(["HF_HOME": "/x"]).root.path == "/x/hub")
        #expect(HubCache.fromEnvironment(["HF_HUB_CACHE": "/y", "HF_HOME": "/x"]).root.path == "/y")
        let client = HubClient.fromEnvironment(["HF_ENDPOINT": "http://127.0.0.1:1", "HF_TOKEN": "t"])
        #expect(client.endpoint.absoluteString == "http://127.0.0.1:1" && client.token == "t")
    }
}

import Crypto
