import Foundation
import NibbleModels

/// Hands the configured `quantization_config` to the loader.
///
/// The configuration keeps the block as transformers' JSON so the file format never depends on how the
/// loader models it; the loader decodes it with its own `BitsAndBytesConfig`.
func applyQuantization(_ json: Data?, to options: inout LoadOptions) {
    guard let json else { return }
    options.quantizationConfigJSON = json
}
