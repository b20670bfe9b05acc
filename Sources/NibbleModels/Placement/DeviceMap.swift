/// Where a module's weights live.
public enum Tier: String, Sendable, Codable, CaseIterable, Comparable {
    /// Resident in RAM, quantized per the config.
    case cpu
    /// Left memory-mapped in the checkpoint file and paged in when the layer runs; kept unquantized.
    case disk

    public static func < (a: Tier, b: Tier) -> Bool { a == .cpu && b == .disk }
}

/// How modules are assigned to tiers, as transformers' `device_map` argument.
public enum DeviceMap: Sendable, Equatable {
    /// Fill tiers in module order under `max_memory`, like accelerate's `infer_auto_device_map`.
    case auto
    /// Everything on one tier.
    case all(Tier)
    /// Explicit module prefixes → tier (`"model.layers.3": "disk"`); every module must be covered.
    case explicit([String: Tier])

    /// Parses the JSON/YAML forms: "auto", "cpu", "disk", or an object of module → tier.
    public init(parsing value: Any) throws {
        if let text = value as? String {
            switch text {
            case "auto", "balanced", "sequential": self = .auto
            default:
                guard let tier = Tier(rawValue: text) else {
                    throw ModelError.invalidOptions("device_map '\(text)' is not one of auto, cpu, disk or a module map")
                }
                self = .all(tier)
            }
            return
        }
        guard let object = value as? [String: Any] else {
            throw ModelError.invalidOptions("device_map must be \"auto\", a tier name or an object of module → tier")
        }
        var map: [String: Tier] = [:]
        for (module, raw) in object {
            let name = (raw as? String) ?? "\(raw)"
            guard let tier = Tier(rawValue: name) else {
                throw ModelError.invalidOptions("device_map['\(module)'] = '\(name)' is not a tier (cpu, disk)")
            }
            map[module] = tier
        }
        self = .explicit(map)
    }
}
