import Foundation
import NibbleFormats
import NibbleTestSupport

/// One `../shared/reference/<case>.json` file produced by transformers.
struct ReferenceFile: Decodable {
    struct Case: Decodable {
        let prompt: String
        let input_ids: [Int]
        let greedy_new_ids: [Int]
        let greedy_text: String?
    }
    let model: String
    let cases: [Case]

    /// Loads `<name>.json` and its `<name>.logits.safetensors`.
    static func load(_ name: String) throws -> (ReferenceFile, SafetensorsFile) {
        let file = try SharedFixtures.decodeReference(ReferenceFile.self, name + ".json")
        let logits = try SafetensorsFile(path: SharedFixtures.reference(name + ".logits.safetensors").path)
        return (file, logits)
    }
}

/// Largest absolute elementwise difference.
func maxAbsDiff<A: Collection<Float>, B: Collection<Float>>(_ a: A, _ b: B) -> Float {
    precondition(a.count == b.count)
    return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

/// Index of the largest value, lowest index on ties (torch.argmax behaviour).
func argmax(_ values: ArraySlice<Float>) -> Int {
    var best = values.startIndex
    for i in values.indices where values[i] > values[best] { best = i }
    return best - values.startIndex
}
