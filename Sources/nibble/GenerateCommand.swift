import ArgumentParser
import Foundation
import Logging
import NibbleEngine
import NibbleGeneration
import NibbleKernels
import NibbleModels
import NibbleTemplates

/// `nibble generate`: one prompt, one completion, streamed to the terminal or printed as JSON. It runs on the
/// same engine as the server (KV block pool, batched steps), with one sequence.
struct Generate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate a completion for a prompt (greedy with --temperature 0)."
    )

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .long, help: "The prompt text.")
    var prompt: String

    @Option(name: .long, help: "Maximum number of new tokens.")
    var maxNewTokens: Int = 64

    @Option(name: .long, help: "Sampling temperature; 0 = greedy. Default: the model's generation_config.json, else 1.")
    var temperature: Float?

    @Option(name: .long, help: "Keep only the k most likely tokens (0 = off).")
    var topK: Int?

    @Option(name: .long, help: "Nucleus sampling: keep the smallest set with this probability mass.")
    var topP: Float?

    @Option(name: .long, help: "Drop tokens less likely than min-p × the top probability.")
    var minP: Float?

    @Option(name: .long, help: "Repetition penalty (1 = off; transformers semantics).")
    var repetitionPenalty: Float?

    @Option(name: .long, help: "Seed for sampling; the same seed repeats the same output.")
    var seed: UInt64?

    @Option(name: .long, parsing: .singleValue, help: "A stop string (repeatable); excluded from the output.")
    var stop: [String] = []

    @Flag(name: .long, help: "Send the prompt as a user message in the model's chat template (the adapter's format, e.g. ### Human: … ### Assistant:, when the model has none).")
    var chat = false

    @Flag(name: .long, help: "Print one JSON object with input_ids, new_ids, text, finish_reason and timings.")
    var json = false

    @Option(name: .long, help: "KV cache element type: float32 (default), float16 or bfloat16.")
    var kvCacheDtype: String = "float32"

    @Option(name: .long, help: "Tokens one engine step may run (prompt chunks; default 512).")
    var maxBatchTokens: Int = 512

    func run() async throws {
        guard let dtype = KVCacheDType(rawValue: kvCacheDtype) else {
            throw ValidationError("--kv-cache-dtype must be float32, float16 or bfloat16")
        }
        guard maxBatchTokens > 0 else { throw ValidationError("--max-batch-tokens must be positive") }
        let loaded = try modelOptions.load()
        var parameters = GenerationParameters(defaults: loaded.generationConfig)
        parameters.maxNewTokens = maxNewTokens
        if let temperature {
            parameters.temperature = temperature
            parameters.doSample = temperature > 0
        }
        if let topK { parameters.topK = topK }
        if let topP { parameters.topP = topP }
        if let minP { parameters.minP = minP }
        if let repetitionPenalty { parameters.repetitionPenalty = repetitionPenalty }
        parameters.seed = seed
        let format: ModelChatTemplate?
        do { format = chat ? try loaded.chatFormat() : nil } catch { throw CLIError("\(error)") }
        parameters.stopStrings = stop + (format?.stopStrings ?? [])
        let validated: ValidatedParameters
        do {
            validated = try parameters.validated()
        } catch {
            throw ValidationError("\(error)")
        }

        var text = prompt
        if let format {
            do { text = try format.render(messages: [["role": "user", "content": .string(prompt)]]) } catch {
                throw CLIError("chat template from \(format.origin): \(error)")
            }
        }
        let inputIds = loaded.tokenizer.encode(text, addSpecialTokens: format?.tokenizeWithSpecialTokens ?? true)
        // A pool sized for this one sequence: the engine never holds more than the prompt and its output.
        let positions = min(loaded.model.maxContextLength, inputIds.count + max(validated.maxNewTokens, 1))
        let probe = loaded.model.makeCache(capacity: 1)
        let blocks = (positions + KVBlockPool.blockSize - 1) / KVBlockPool.blockSize
        let budget = blocks * KVBlockPool.bytesPerBlock(layerCount: probe.layerCount, kvDim: probe.kvDim, dtype: dtype)
        let scheduler = Scheduler(
            limits: SchedulerLimits(maxConcurrent: 1, maxQueued: 0, maxBatchTokens: maxBatchTokens,
                                    kvCache: KVCacheSettings(memory: .bytes(budget), dtype: dtype)),
            logger: Logger(label: "nibble.engine", factory: { _ in SwiftLogNoOpLogHandler() }))
        let streaming = !json
        var result = GenerationResult()
        do {
            let events = try scheduler.submit(GenerationRequest(modelName: "cli", model: loaded, promptTokens: inputIds,
                                                                parameters: validated, label: "generate"))
            for try await event in events {
                result.fold(event)
                if streaming, case .token(_, let piece) = event, !piece.isEmpty {
                    FileHandle.standardOutput.write(Data(piece.utf8))
                }
            }
        } catch let error as GenerationError {
            throw CLIError("\(error)")
        } catch let error as EngineError {
            throw CLIError("\(error)")
        }
        if streaming {
            print("")
            let t = result.timings
            FileHandle.standardError.write(Data(String(
                format: "\n[%d prompt tokens in %.1f ms, %d new tokens at %.1f tokens/s, finish: %@]\n",
                t.promptTokens, t.promptMilliseconds, t.predictedTokens, t.predictedPerSecond,
                result.finishReason.openAIName).utf8))
            return
        }
        let object: [String: Any] = [
            "input_ids": inputIds,
            "new_ids": result.tokens,
            "text": result.text,
            "finish_reason": result.finishReason.openAIName,
            "usage": ["prompt_tokens": result.usage.promptTokens, "completion_tokens": result.usage.completionTokens,
                      "total_tokens": result.usage.totalTokens],
            "timings": ["prompt_n": result.timings.promptTokens, "prompt_ms": result.timings.promptMilliseconds,
                        "predicted_n": result.timings.predictedTokens, "predicted_ms": result.timings.predictedMilliseconds,
                        "predicted_per_second": result.timings.predictedPerSecond],
        ]
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        print(String(decoding: data, as: UTF8.self))
    }
}
