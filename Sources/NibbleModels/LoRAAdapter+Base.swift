import Foundation
import NibbleFormats

extension LoRAAdapter {
    /// Reads the PEFT adapter at `directory` for a base model (at `basePath`) whose tensors `hasTensor` knows by
    /// their Hugging Face names: every adapted module must exist there, or the adapter belongs to another model.
    static func forBase(directory: URL, basePath: String, hasTensor: (String) -> Bool) throws -> LoRAAdapter {
        let adapter = try LoRAAdapter(directory: directory)
        for module in adapter.modules.keys.sorted() where !hasTensor(module + ".weight") {
            throw ModelError.invalidAdapter(path: directory.path,
                                            reason: "adapts '\(module)', which the base model at \(basePath) does not have")
        }
        return adapter
    }
}
