/// One placeable module with the bytes its weights will occupy once loaded (after quantization).
public struct ModuleFootprint: Sendable, Equatable {
    public var name: String
    public var bytes: Int
    /// Whether the module is a decoder block: blocks are never split, the largest one keeps room reserved on
    /// the main tier, and runs of them print as one line.
    public var isLayer: Bool

    public init(name: String, bytes: Int, isLayer: Bool = false) {
        self.name = name
        self.bytes = bytes
        self.isLayer = isLayer
    }
}

/// The decided tier of every module, printed at load and reported by `/memory`.
public struct PlacementPlan: Sendable, Equatable, CustomStringConvertible {
    /// Modules in definition order with their tier and bytes.
    public var assignments: [(module: String, tier: Tier, bytes: Int)]
    /// The modules that are decoder blocks (printed in runs).
    public var layers: Set<String>

    public init(assignments: [(module: String, tier: Tier, bytes: Int)], layers: Set<String> = []) {
        self.assignments = assignments
        self.layers = layers
    }

    public static func == (a: PlacementPlan, b: PlacementPlan) -> Bool {
        a.layers == b.layers
            && a.assignments.elementsEqual(b.assignments) { $0.module == $1.module && $0.tier == $1.tier && $0.bytes == $1.bytes }
    }

    /// The tier of a module (a parameter name resolves through its longest matching module prefix).
    public func tier(of name: String) -> Tier {
        var best: (length: Int, tier: Tier)?
        for assignment in assignments where name == assignment.module || name.hasPrefix(assignment.module + ".") {
            if best == nil || assignment.module.count > best!.length { best = (assignment.module.count, assignment.tier) }
        }
        return best?.tier ?? .cpu
    }

    /// Whether any module is offloaded.
    public var hasOffload: Bool { assignments.contains { $0.tier == .disk } }

    public var description: String {
        var lines: [String] = []
        var index = 0
        while index < assignments.count {
            // Runs of consecutive layers on the same tier are printed as one line.
            var end = index
            while end + 1 < assignments.count, assignments[end + 1].tier == assignments[index].tier,
                  layers.contains(assignments[end + 1].module), layers.contains(assignments[index].module) {
                end += 1
            }
            let bytes = assignments[index...end].reduce(0) { $0 + $1.bytes }
            let name = end == index ? assignments[index].module
                : "\(assignments[index].module) … \(assignments[end].module.split(separator: ".").last ?? "")"
            lines.append("  \(name.padding(toLength: 34, withPad: " ", startingAt: 0)) → \(assignments[index].tier.rawValue) (\(bytes) B)")
            index = end + 1
        }
        return lines.joined(separator: "\n")
    }
}

/// Decides tiers for modules the way accelerate's `infer_auto_device_map` does for a CPU-only machine:
/// modules in definition order fill the `cpu` tier, a decoder layer is never split, room for the largest
/// layer stays reserved on the main tier, and once a module spills to `disk` every later one follows
/// (the device index never goes back).
public enum PlacementPlanner {
    /// Plans placement. `maxMemory` holds per-tier budgets (no entry = unlimited); bitsandbytes' quantizer
    /// keeps 10% headroom, so with `quantized` the budgets are scaled by 0.9 as transformers does.
    public static func plan(modules: [ModuleFootprint], deviceMap: DeviceMap, maxMemory: [Tier: Int],
                            quantized: Bool) throws -> PlacementPlan {
        let layers = Set(modules.filter(\.isLayer).map(\.name))
        switch deviceMap {
        case .all(let tier):
            return PlacementPlan(assignments: modules.map { ($0.name, tier, $0.bytes) }, layers: layers)
        case .explicit(let map):
            var assignments: [(String, Tier, Int)] = []
            for module in modules {
                let match = map.keys.filter { module.name == $0 || module.name.hasPrefix($0 + ".") || $0.isEmpty }
                    .max { $0.count < $1.count }
                guard let key = match else {
                    throw ModelError.invalidOptions("device_map does not place module '\(module.name)'")
                }
                assignments.append((module.name, map[key]!, module.bytes))
            }
            for key in map.keys where !key.isEmpty && !modules.contains(where: { $0.name == key || $0.name.hasPrefix(key + ".") }) {
                throw ModelError.invalidOptions("device_map names '\(key)', which is not a module of this model")
            }
            return PlacementPlan(assignments: assignments, layers: layers)
        case .auto:
            break
        }
        guard let cpuBudget = maxMemory[.cpu] else {
            return PlacementPlan(assignments: modules.map { ($0.name, .cpu, $0.bytes) }, layers: layers)
        }
        let budget = quantized ? Int(Double(cpuBudget) * 0.9) : cpuBudget
        let largestLayer = modules.filter(\.isLayer).map(\.bytes).max() ?? 0
        // The main tier keeps room for the largest layer, as accelerate reserves it for offloaded execution.
        let available = budget - largestLayer
        var used = 0
        var spilled = false
        var assignments: [(String, Tier, Int)] = []
        for module in modules {
            if !spilled && used + module.bytes <= available {
                used += module.bytes
                assignments.append((module.name, .cpu, module.bytes))
            } else {
                spilled = true
                assignments.append((module.name, .disk, module.bytes))
            }
        }
        return PlacementPlan(assignments: assignments, layers: layers)
    }
}
