import ArgumentParser
import Foundation
import NibbleKernels
import NibbleModels

/// `nibble bench`: prefill and decode speed of a model on this machine, without tokenizer or sampling costs.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time prefill and greedy decode on a synthetic prompt (medians over several runs)."
    )

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .long, help: "Prompt length in tokens (deterministic ids drawn from the vocabulary).")
    var promptTokens: Int = 128

    @Option(name: .long, help: "Tokens to decode one at a time after the prompt.")
    var genTokens: Int = 64

    @Option(name: .long, help: "Timed runs; the report gives medians.")
    var runs: Int = 3

    @Option(name: .long, help: "Untimed runs first (page in weights, start worker threads).")
    var warmup: Int = 1

    @Flag(name: .long, help: "Print one JSON object instead of text.")
    var json = false

    @Option(name: .long, help: "KV cache element type: float32 (default), float16 or bfloat16.")
    var kvCacheDtype: String = "float32"

    @Option(name: .long, help: "Sequences decoded together: each prompt is prefilled alone, then every decode step is one batched forward over all of them (decode tokens/s counts every sequence's tokens).")
    var sequences: Int = 1

    func validate() throws {
        guard promptTokens > 0 else { throw ValidationError("--prompt-tokens must be positive") }
        guard genTokens >= 0 else { throw ValidationError("--gen-tokens must not be negative") }
        guard runs > 0 else { throw ValidationError("--runs must be positive") }
        guard warmup >= 0 else { throw ValidationError("--warmup must not be negative") }
        guard (1...256).contains(sequences) else { throw ValidationError("--sequences must be between 1 and 256") }
        guard KVCacheDType(rawValue: kvCacheDtype) != nil else {
            throw ValidationError("--kv-cache-dtype must be float32, float16 or bfloat16")
        }
    }

    /// Timings of one prefill + decode pass.
    struct RunTiming {
        var prefillSeconds: Double
        /// Prefill plus picking the first token: what a client waits before the first token.
        var firstTokenSeconds: Double
        var decodeSeconds: Double
        /// The greedy tokens picked (first from the prefill), for checking another engine did the same work.
        var tokens: [Int]
    }

    func run() throws {
        let loaded = try modelOptions.load()
        let model = loaded.model
        let total = promptTokens + genTokens
        guard total <= model.maxContextLength else {
            throw ValidationError("--prompt-tokens + --gen-tokens (\(total)) exceeds the context (\(model.maxContextLength))")
        }
        // Sequence s starts from a different token, so no two sequences compute the same rows.
        let prompts = (0..<sequences).map { s in
            Self.syntheticPrompt(count: promptTokens, vocabulary: model.vocabularySize, offset: s)
        }
        // The engine's cache: a block table per sequence over one pool in the chosen element type.
        let probe = model.makeCache(capacity: 1)
        let blocksPerSequence = (total + KVBlockPool.blockSize - 1) / KVBlockPool.blockSize
        let pool = KVBlockPool(layerCount: probe.layerCount, kvDim: probe.kvDim, dtype: KVCacheDType(rawValue: kvCacheDtype)!,
                               blockCount: blocksPerSequence * sequences)
        let caches = (0..<sequences).map { _ in KVCache(pool: pool, capacity: total) }

        var timings: [RunTiming] = []
        for index in 0..<(warmup + runs) {
            for cache in caches { cache.reset() }
            let timing = try Self.timeOnce(model: model, caches: caches, prompts: prompts, genTokens: genTokens)
            if index >= warmup { timings.append(timing) }
        }
        let memory = ProcessMemory.current()

        let prefillRate = Self.median(timings.map { Double(promptTokens * sequences) / $0.prefillSeconds })
        let firstTokenMs = Self.median(timings.map { $0.firstTokenSeconds * 1000 })
        let decodeRate = genTokens == 0 ? 0 : Self.median(timings.map { Double(genTokens * sequences) / $0.decodeSeconds })
        let weightBytes = loaded.memory.totalBytes

        if json {
            let object: [String: Any] = [
                "model": loaded.directory.path,
                "threads": Parallel.threadCount,
                "kernels": KernelPath.current.name,
                "kv_cache_dtype": kvCacheDtype,
                "pool": Parallel.backend.rawValue,
                "prompt_tokens": promptTokens, "gen_tokens": genTokens, "runs": runs, "sequences": sequences,
                "prefill_tokens_per_second": prefillRate,
                "time_to_first_token_ms": firstTokenMs,
                "decode_tokens_per_second": decodeRate,
                "weight_bytes": weightBytes,
                "bytes_by_format": loaded.memory.bytesByFormat,
                "bytes_by_module_kind": loaded.memory.bytesByModuleKind,
                "rss_bytes": memory.residentBytes,
                "peak_rss_bytes": memory.peakResidentBytes,
                "greedy_ids": timings.first?.tokens ?? [],
                "runs_detail": timings.map {
                    ["prefill_ms": $0.prefillSeconds * 1000, "first_token_ms": $0.firstTokenSeconds * 1000,
                     "decode_ms": $0.decodeSeconds * 1000]
                },
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print("model          \(loaded.directory.path)")
        print("threads        \(Parallel.threadCount) (\(Parallel.backend.rawValue) threads, \(KernelPath.current.name) kernels)")
        print("weights        \(formatBytes(weightBytes)) \(loaded.memory.bytesByFormat.sorted { $0.value > $1.value }.map { "\($0.key) \(formatBytes($0.value))" }.joined(separator: ", "))")
        print("kv cache       \(kvCacheDtype)")
        let promptCount = sequences == 1 ? "" : " × \(sequences) prompts, one at a time"
        print(String(format: "prefill        %.1f tokens/s (%d tokens", prefillRate, promptTokens) + promptCount + ")")
        print(String(format: "first token    %.1f ms", firstTokenMs))
        if sequences == 1 {
            print(String(format: "decode         %.1f tokens/s (%d tokens)", decodeRate, genTokens))
        } else {
            print(String(format: "decode         %.1f tokens/s in all (%d sequences × %d tokens, one batched step per token)",
                         decodeRate, sequences, genTokens))
        }
        print("peak RSS       \(formatBytes(memory.peakResidentBytes))")
        print("(medians of \(runs) run\(runs == 1 ? "" : "s") after \(warmup) warm-up)")
    }

    /// Prefills each prompt alone, then decodes `genTokens` tokens greedily for all sequences together, one
    /// batched forward call per token. Prefill and first-token times cover every prompt.
    static func timeOnce(model: any LanguageModel, caches: [KVCache], prompts: [[Int]], genTokens: Int) throws -> RunTiming {
        let start = DispatchTime.now().uptimeNanoseconds
        var lastLogits: [[Float]] = []  // (sequences, vocab)
        for (prompt, cache) in zip(prompts, caches) {
            lastLogits.append(try model.forward(prompt, cache: cache, allLogits: false))
        }
        let prefilled = DispatchTime.now().uptimeNanoseconds
        var next = lastLogits.map { argmax($0) }
        let firstToken = DispatchTime.now().uptimeNanoseconds
        var tokens = [next[0]]  // (genTokens + 1): the first sequence's picks
        tokens.reserveCapacity(genTokens + 1)
        for _ in 0..<genTokens {
            let steps = zip(next, caches).map { SequenceStep(tokens: [$0], cache: $1, logits: .last) }
            next = try model.forward(batch: steps).map { argmax($0) }
            tokens.append(next[0])
        }
        let end = DispatchTime.now().uptimeNanoseconds
        return RunTiming(prefillSeconds: Double(prefilled - start) / 1e9,
                         firstTokenSeconds: Double(firstToken - start) / 1e9,
                         decodeSeconds: Double(end - firstToken) / 1e9, tokens: tokens)
    }

    /// `count` ids spread over the vocabulary, after BOS (id 1); ids 0–2 (unk/bos/eos) are skipped. `offset`
    /// shifts the sequence of ids (0 gives the prompt every earlier report used).
    static func syntheticPrompt(count: Int, vocabulary: Int, offset: Int = 0) -> [Int] {
        let usable = max(vocabulary - 3, 1)
        return (0..<count).map { i in
            i == 0 ? min(1, vocabulary - 1) : 3 + ((i &+ offset) &* 7919 &+ 104_729) % usable
        }
    }

    static func argmax<Values: RandomAccessCollection<Float>>(_ values: Values) -> Int {
        var best = values.startIndex
        for i in values.indices where values[i] > values[best] { best = i }
        return values.distance(from: values.startIndex, to: best)
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return 0 }
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }
}
