import NibbleKernels

extension WeightBuilder {
    /// The output head of a model whose head shares the embedding matrix (no stored `lm_head.weight`).
    ///
    /// The head is a linear module like any other, so it follows the quantization plan: when the plan's skip
    /// list leaves `lm_head` out (`llm_int8_skip_modules` set without it), the head is a quantized copy of the
    /// embedding matrix, quantized from the stored values as bitsandbytes quantizes the loaded head. The
    /// embedding lookup keeps the stored matrix. Otherwise (the default skip list) the head is the embedding.
    func tiedOutputHead(_ embeddings: DenseWeight, name: String, memory: inout WeightMemoryReport) -> Linear {
        guard let quantization, quantization.shouldQuantize(moduleName: name) else {
            return Linear(weight: embeddings)
        }
        let values = embeddings.floats()  // (vocab, hidden) the stored embedding widened to f32
        let dtype = embeddings.format == .f16 ? "float16" : embeddings.format == .bf16 ? "bfloat16" : "float32"
        guard let head = values.withUnsafeBufferPointer({
            quantization.quantize(weight: $0, outFeatures: embeddings.outFeatures, inFeatures: embeddings.inFeatures,
                                  moduleName: name, originalDType: dtype)
        }) else {
            return Linear(weight: embeddings)
        }
        // Parameters are the embedding's (counted with it); the bytes are the copy's own.
        memory.add(bytes: head.storageBytes, parameters: 0, tier: "cpu", format: head.formatName,
                   moduleKind: Self.moduleKind(name))
        return Linear(weight: head)
    }
}
