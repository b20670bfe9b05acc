import Foundation
import NibbleModels

/// One model to serve: the name clients use and how to load it.
public struct ModelSpec: Sendable {
    /// The name in requests (`"model": "kjv-llama-4m"`) and in `/v1/models`.
    public var name: String
    /// The checkpoint directory.
    public var directory: URL
    /// Adapter, LoRA, quantization and placement.
    public var options: LoadOptions
    /// Other names requests may use for this model; responses and stats use `name`.
    public var aliases: [String]

    public init(name: String, directory: URL, options: LoadOptions = LoadOptions(), aliases: [String] = []) {
        self.name = name
        self.directory = directory
        self.options = options
        self.aliases = aliases
    }
}

/// Produces a ready model for a spec. The seam that lets tests serve fakes instead of checkpoints.
public protocol ModelProviding: Sendable {
    /// Loads synchronously (it is called on a background thread), reporting progress in 0...1.
    func load(_ spec: ModelSpec, progress: @escaping @Sendable (Double, String) -> Void) throws -> LoadedModel
}

/// Loads checkpoints from disk with `ModelLoader`.
public struct DiskModelProvider: ModelProviding {
    public init() {}

    public func load(_ spec: ModelSpec, progress: @escaping @Sendable (Double, String) -> Void) throws -> LoadedModel {
        var options = spec.options
        let caller = options.progress
        options.progress = { fraction, stage in
            caller?(fraction, stage)
            progress(fraction, stage)
        }
        return try ModelLoader.load(directory: spec.directory, options: options)
    }
}
