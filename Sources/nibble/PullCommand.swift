import ArgumentParser
import Foundation
import NibbleFormats

/// `nibble pull ORG/NAME`: download a model into the Hugging Face cache.
struct Pull: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Download a model from the Hugging Face hub into the standard cache ($HF_HOME/hub).",
        discussion: "Honours HF_TOKEN (gated/private models), HF_ENDPOINT (mirrors), HF_HOME and HF_HUB_CACHE. "
            + "Interrupted downloads resume; sizes and checksums are verified."
    )

    @Argument(help: "The model id, ORG/NAME.")
    var model: String

    @Option(name: .long, help: "Branch, tag or commit.")
    var revision: String = "main"

    func run() async throws {
        let repo: HubRepoId
        do { repo = try HubRepoId(parsing: model) } catch { throw ValidationError("\(error)") }
        let client = HubClient.fromEnvironment()
        let bar = ProgressBar(label: "pull")
        do {
            let snapshot = try await client.pull(repo, revision: revision) { progress in
                bar.update(fraction: progress.totalBytes > 0 ? Double(progress.bytes) / Double(progress.totalBytes) : 1,
                           detail: "[\(progress.fileIndex + 1)/\(progress.fileCount)] \(progress.file) "
                               + "\(formatBytes(progress.bytes))/\(formatBytes(progress.totalBytes))")
            }
            bar.finish()
            print(snapshot.path)
        } catch {
            bar.finish()
            throw CLIError("\(error)")
        }
    }
}
