import NibbleFormats

/// A model family (LLaMA, Mistral, Qwen2, …): how its config.json reads, what its modules are named and the
/// decoder its forward runs. One type per family, in its own folder, registered with one line in `ModelFamilies`.
public protocol ModelFamily: Sendable {
    /// The family's config.json, decoded.
    associatedtype Configuration: FamilyConfiguration

    /// Registry name, e.g. "qwen2".
    static var name: String { get }
    /// `model_type` values of config.json this family loads.
    static var modelTypes: [String] { get }
    /// `architectures` entries of config.json this family loads, e.g. "Qwen2ForCausalLM".
    static var architectures: [String] { get }
    /// `general.architecture` values of GGUF files this family loads.
    static var ggufArchitectures: [String] { get }

    /// The checkpoint names of the family's modules. A family whose checkpoints name things differently
    /// spells them here: this is where weights are renamed.
    static func layout(_ configuration: Configuration) -> DecoderLayout
    /// The decoder the family's forward runs: sizes, rotary settings, biases, windows, norms.
    static func architecture(_ configuration: Configuration) throws -> DecoderArchitecture
    /// Whether a stored tensor is not a weight of the model and is dropped (e.g. a saved rotary-frequency
    /// buffer): not counted by placement and not written by `nibble quantize`.
    static func dropsTensor(_ name: String) -> Bool
}

extension ModelFamily {
    public static func dropsTensor(_ name: String) -> Bool { false }
}

/// A family's config.json, decoded once from the fields every checkpoint has plus the ones only it has.
/// A missing field the family needs, or a setting it cannot honour, is an error naming it.
public protocol FamilyConfiguration: Sendable {
    init(config: ModelConfig, fields: JSONFieldReader) throws
}

extension JSONFieldReader {
    /// Refuses an activation other than SiLU (the only one the decoder's MLP computes).
    func requireSiLU() throws {
        let act = try optionalString("hidden_act") ?? "silu"
        guard act == "silu" || act == "swish" else {
            throw FormatError.invalidConfig(path: path, reason: "hidden_act '\(act)' is not supported (silu only)")
        }
    }

    /// A field the family cannot run without.
    func required(_ key: String, family: String) throws -> Int {
        guard let value = try optionalInt(key) else {
            throw FormatError.invalidConfig(path: path, reason: "missing field '\(key)', which \(family) models need")
        }
        return value
    }
}
