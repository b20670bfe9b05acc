import Foundation

/// All weight files of a checkpoint directory behind one name → tensor lookup.
///
/// Reads `model.safetensors.index.json` when present (sharded checkpoints), else `model.safetensors`,
/// else every `*.safetensors` file in the directory.
public final class SafetensorsArchive: Sendable {
    /// The directory or file the archive was opened from.
    public let location: String
    /// The opened files, in name order.
    public let files: [SafetensorsFile]
    private let index: [String: TensorView]

    /// Opens every weight file of a checkpoint directory.
    public convenience init(directory: URL) throws {
        let fm = FileManager.default
        let indexURL = directory.appendingPathComponent("model.safetensors.index.json")
        if fm.fileExists(atPath: indexURL.path) {
            let shardNames = try Self.shardNames(indexURL: indexURL)
            try self.init(location: directory.path, files: shardNames.map {
                try SafetensorsFile(path: directory.appendingPathComponent($0).path)
            }, expected: try Self.weightMap(indexURL: indexURL))
            return
        }
        let single = directory.appendingPathComponent("model.safetensors")
        if fm.fileExists(atPath: single.path) {
            try self.init(location: directory.path, files: [SafetensorsFile(path: single.path)], expected: nil)
            return
        }
        guard let names = try? fm.contentsOfDirectory(atPath: directory.path) else {
            throw FormatError.fileNotFound(path: directory.path)
        }
        let weightFiles = names.filter { $0.hasSuffix(".safetensors") }.sorted()
        guard !weightFiles.isEmpty else {
            throw FormatError.fileNotFound(path: directory.appendingPathComponent("model.safetensors").path)
        }
        try self.init(location: directory.path,
                      files: weightFiles.map { try SafetensorsFile(path: directory.appendingPathComponent($0).path) },
                      expected: nil)
    }

    /// Wraps already-opened files; `expected` (from an index) must agree with what the files hold.
    public init(location: String, files: [SafetensorsFile], expected: [String: String]? = nil) throws {
        self.location = location
        self.files = files
        var index: [String: TensorView] = [:]
        for file in files {
            for (name, view) in file.tensors {
                if let other = index[name] {
                    throw FormatError.invalidTensor(path: file.path, tensor: name, reason: "also present in \(other.file.path)")
                }
                index[name] = view
            }
        }
        if let expected {
            for (name, shard) in expected {
                guard let view = index[name] else {
                    throw FormatError.missingTensor(name: name, searched: "\(shard) (listed in model.safetensors.index.json)")
                }
                if URL(fileURLWithPath: view.file.path).lastPathComponent != shard {
                    throw FormatError.invalidTensor(path: view.file.path, tensor: name,
                                                    reason: "index.json places it in \(shard)")
                }
            }
        }
        self.index = index
    }

    /// Every tensor name.
    public var tensorNames: [String] { index.keys.sorted() }

    /// Whether a tensor exists.
    public func contains(_ name: String) -> Bool { index[name] != nil }

    /// Looks up a tensor, or nil.
    public func tensorIfPresent(_ name: String) -> TensorView? { index[name] }

    /// Looks up a tensor; the error names the checkpoint.
    public func tensor(_ name: String) throws -> TensorView {
        guard let view = index[name] else { throw FormatError.missingTensor(name: name, searched: location) }
        return view
    }

    /// Total bytes of tensor data.
    public var dataBytes: Int { index.values.reduce(0) { $0 + $1.byteRange.count } }

    private static func weightMap(indexURL: URL) throws -> [String: String] {
        let data = try Data(contentsOf: indexURL)
        guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
              let map = root["weight_map"] as? [String: String] else {
            throw FormatError.invalidConfig(path: indexURL.path, reason: "missing or malformed 'weight_map'")
        }
        for shard in Set(map.values) where shard.contains("/") || shard.hasPrefix(".") {
            throw FormatError.invalidConfig(path: indexURL.path, reason: "shard name '\(shard)' must be a plain file name")
        }
        return map
    }

    private static func shardNames(indexURL: URL) throws -> [String] {
        Array(Set(try weightMap(indexURL: indexURL).values)).sorted()
    }
}
