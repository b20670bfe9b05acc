import Foundation
import NibbleModels
import NibbleTestSupport
import Testing

/// Layer placement by memory budget (accelerate's `infer_auto_device_map` rules) and running offloaded layers.
@Suite struct PlacementTests {
    static let modules = [
        ModuleFootprint(name: "model.embed_tokens", bytes: 100),
        ModuleFootprint(name: "model.layers.0", bytes: 50, isLayer: true),
        ModuleFootprint(name: "model.layers.1", bytes: 50, isLayer: true),
        ModuleFootprint(name: "model.layers.2", bytes: 60, isLayer: true),
        ModuleFootprint(name: "model.norm", bytes: 1),
        ModuleFootprint(name: "lm_head", bytes: 100),
    ]

    @Test func autoFillsInOrderReservingTheLargestLayer() throws {
        // 300 budget − 60 reserved for the largest layer = 240: embed(100)+l0(50)+l1(50) = 200, l2 would make 260.
        let plan = try PlacementPlanner.plan(modules: Self.modules, deviceMap: .auto, maxMemory: [.cpu: 300], quantized: false)
        #expect(plan.assignments.map(\.tier) == [.cpu, .cpu, .cpu, .disk, .disk, .disk])
        // Once spilled, later modules never come back even if they would fit (norm is 1 byte).
        #expect(plan.tier(of: "model.norm.weight") == .disk)
        #expect(plan.tier(of: "model.layers.1.mlp.up_proj") == .cpu)
    }

    @Test func quantizedBudgetsKeepTenPercentHeadroom() throws {
        // 0.9 × 300 = 270 − 60 = 210: embed + l0 + l1 = 200 still fit; with 280 unquantized, l2 would too.
        let quantized = try PlacementPlanner.plan(modules: Self.modules, deviceMap: .auto, maxMemory: [.cpu: 300], quantized: true)
        #expect(quantized.assignments.filter { $0.tier == .cpu }.count == 3)
        let roomy = try PlacementPlanner.plan(modules: Self.modules, deviceMap: .auto, maxMemory: [.cpu: 330], quantized: false)
        #expect(roomy.assignments.filter { $0.tier == .cpu }.count == 5)
        let tight = try PlacementPlanner.plan(modules: Self.modules, deviceMap: .auto, maxMemory: [.cpu: 330], quantized: true)
        #expect(tight.assignments.filter { $0.tier == .cpu }.count == 3)
    }

    @Test func explicitMapsUseLongestPrefix() throws {
        let map = try DeviceMap(parsing: ["": "cpu", "model.layers.1": "disk", "lm_head": "disk"] as [String: Any])
        let plan = try PlacementPlanner.plan(modules: Self.modules, deviceMap: map, maxMemory: [:], quantized: false)
        #expect(plan.assignments.map(\.tier) == [.cpu, .cpu, .disk, .cpu, .cpu, .disk])
        #expect(throws: ModelError.self) {
            try PlacementPlanner.plan(modules: Self.modules, deviceMap: .explicit(["model.layers.0": .cpu]), maxMemory: [:], quantized: false)
        }
        #expect(throws: ModelError.self) { try DeviceMap(parsing: ["lm_head": "gpu"] as [String: Any]) }
        #expect(try DeviceMap(parsing: "auto") == .auto)
        #expect(try DeviceMap(parsing: "disk") == .all(.disk))
    }

    @Test func memorySizesParseLikeAccelerate() throws {
        #expect(try MemorySize(parsing: "2GiB").bytes == 2 << 30)
        #expect(try MemorySize(parsing: "2GB").bytes == 2_000_000_000)
        #expect(try MemorySize(parsing: "512 MiB").bytes == 512 << 20)
        #expect(try MemorySize(parsing: "1.5KB").bytes == 1500)
        #expect(try MemorySize(parsing: "12345").bytes == 12345)
        #expect(throws: ModelError.self) { try MemorySize(parsing: "lots") }
        #expect(throws: ModelError.self) { try MemorySize(parsing: "-1GB") }
    }

    @Test func offloadedModelGivesTheSameGreedyIds() throws {
        // llama-tiny: embeddings 8.19 MB, each layer 0.39 MB, lm_head 8.19 MB. A 9 MB budget keeps the
        // embeddings and layer 0 resident and sends layer 1, the final norm and lm_head to disk.
        var options = LoadOptions()
        options.maxMemory = [.cpu: 9_000_000]
        let loaded = try ModelLoader.load(directory: SharedFixtures.model("llama-tiny"), options: options)
        #expect(loaded.placement.hasOffload)
        #expect(loaded.placement.tier(of: "model.layers.0") == .cpu)
        #expect(loaded.placement.tier(of: "model.layers.1") == .disk)
        #expect(loaded.placement.tier(of: "lm_head") == .disk)
        let disk = loaded.memory.bytesByTier["disk"] ?? 0
        #expect(disk >= 32000 * 128 * 2 + 393_216)
        #expect(loaded.memory.totalBytes > 9_000_000)

        let (reference, _) = try ReferenceFile.load("llama-tiny-fp32")
        for c in reference.cases {
            let (_, ids) = try LlamaReferenceTests.greedy(loaded, prompt: c.input_ids, count: c.greedy_new_ids.count)
            #expect(ids == c.greedy_new_ids)
        }
    }

    @Test func everythingOnDiskStillRuns() throws {
        var options = LoadOptions()
        options.deviceMap = .all(.disk)
        let loaded = try ModelLoader.load(directory: SharedFixtures.model("kjv-llama-4m"), options: options)
        #expect(loaded.memory.bytesByTier["cpu", default: 0] < 20_000)  // only norm gains are copied
        let (reference, _) = try ReferenceFile.load("kjv-llama-4m-fp32")
        let c = reference.cases[0]
        let (_, ids) = try LlamaReferenceTests.greedy(loaded, prompt: c.input_ids, count: c.greedy_new_ids.count)
        #expect(ids == c.greedy_new_ids)
    }
}
