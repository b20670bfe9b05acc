import Foundation

/// How to load a checkpoint: which adapter, LoRA, quantization and placement.
public struct LoadOptions: Sendable {
    /// Adapter registry name (`llama`, `guanaco`).
    public var adapterName: String = "llama"
    /// A PEFT LoRA adapter directory (`adapter_config.json` + `adapter_model.safetensors`), merged at load.
    public var loraDirectory: URL?
    /// How modules are assigned to tiers (`device_map`); with a `cpu` budget in `maxMemory`, `.auto` is implied.
    public var deviceMap: DeviceMap?
    /// Per-tier budgets in bytes (`max_memory`), e.g. `[.cpu: 2 << 30]`.
    public var maxMemory: [Tier: Int] = [:]
    /// Where weights placed on disk that exist only after conversion (a GGUF file's dequantized or reordered
    /// tensors) are written (`offload_folder`); each goes to an unnamed file that disappears with the model.
    public var offloadFolder: URL?
    /// A `BitsAndBytesConfig` as JSON (transformers' field names), applied while loading.
    /// A checkpoint's own `quantization_config` is used when this is nil.
    public var quantizationConfigJSON: Data?
    /// A chat template that replaces the checkpoint's own (`chat_template` in the model's configuration).
    public var chatTemplate: ChatTemplateTexts?
    /// Called as loading advances (fraction 0...1 and what is being done).
    public var progress: (@Sendable (Double, String) -> Void)?

    public init(adapterName: String = "llama", loraDirectory: URL? = nil) {
        self.adapterName = adapterName
        self.loraDirectory = loraDirectory
    }
}
