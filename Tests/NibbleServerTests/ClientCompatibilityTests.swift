import Foundation
import NibbleEngine
@testable import NibbleServer
import NibbleTestSupport
import Testing

/// Real clients from PyPI (openai, langchain-openai, litellm, lm-evaluation-harness) against the server running
/// SmolLM2-135M-Instruct: `scripts/client-checks.py`, with the Python that `scripts/test` prepares for them
/// (`NIBBLE_CLIENTS_PYTHON`).
@Suite(.serialized, .enabled(if: ClientPython.path != nil && RealModelFixtures.smolLM2GGUF != nil,
                             "needs NIBBLE_CLIENTS_PYTHON (scripts/test sets it up) and \(RealModelFixtures.smolLM2Missing)"))
struct ClientCompatibilityTests {

    @Test(arguments: ["openai", "langchain", "litellm", "lm-eval"])
    func clientWorksAgainstTheServer(group: String) async throws {
        let python = try #require(ClientPython.path)
        let gguf = try #require(RealModelFixtures.smolLM2GGUF)
        var configuration = ServerConfiguration()
        configuration.models = [ModelConfiguration(name: "smollm2", path: gguf)]
        let registry = ModelRegistry(specs: configuration.modelSpecs)
        try await withServer(configuration: configuration, registry: registry) { server in
            let port = server.port
            let reference = SharedFixtures.reference("smollm2/smollm2-logprobs.json")
            let (status, output) = try await onThread {
                try runScript(python, [repositoryScript("client-checks.py"), "--base-url", "http://127.0.0.1:\(port)",
                                       "--model", "smollm2", "--only", group, "--reference", reference.path])
            }
            #expect(status == 0, "\(output)")
            #expect(output.contains("all passed"), "\(output)")
        }
    }
}

/// The Python with the client packages installed.
enum ClientPython {
    static let path: String? = ProcessInfo.processInfo.environment["NIBBLE_CLIENTS_PYTHON"].flatMap {
        FileManager.default.isExecutableFile(atPath: $0) ? $0 : nil
    }
}
