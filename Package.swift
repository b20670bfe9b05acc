// swift-tools-version:6.1
import PackageDescription

/// Kernels run hot even in debug builds, so the test suite (which runs real models) stays fast.
let optimized: [SwiftSetting] = [.unsafeFlags(["-O"])]

let package = Package(
    name: "nibble",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "nibble", targets: ["nibble"]),
        .library(name: "NibbleServer", targets: ["NibbleServer"]),
        .library(name: "NibbleModels", targets: ["NibbleModels"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
    ],
    targets: [
        // MARK: - Executable
        .executableTarget(
            name: "nibble",
            dependencies: [
                "NibbleServer", "NibbleEngine", "NibbleGeneration", "NibbleModels", "NibbleQuant",
                "NibbleFormats", "NibbleTokenizer", "NibbleKernels", "NibbleTemplates",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // MARK: - Libraries (dependencies point down)
        .target(
            name: "NibbleServer",
            dependencies: [
                "NibbleEngine", "NibbleGeneration", "NibbleModels", "NibbleQuant", "NibbleTokenizer", "NibbleFormats",
                "NibbleKernels",
                "NibbleTemplates", "NibbleGrammar",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .target(
            name: "NibbleEngine",
            dependencies: ["NibbleGeneration", "NibbleGrammar", "NibbleModels", "NibbleTokenizer", "NibbleKernels",
                           .product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "NibbleGeneration",
            dependencies: ["NibbleModels", "NibbleTokenizer", "NibbleGrammar"]
        ),
        .target(
            name: "NibbleModels",
            dependencies: ["NibbleQuant", "NibbleFormats", "NibbleTokenizer", "NibbleKernels", "NibbleTemplates"],
            swiftSettings: optimized
        ),
        .target(
            name: "NibbleQuant",
            dependencies: ["NibbleKernels"],
            swiftSettings: optimized
        ),
        .target(
            name: "NibbleFormats",
            dependencies: ["NibbleKernels", .product(name: "Crypto", package: "swift-crypto")],
            // GGUF dequantization touches every weight at load.
            swiftSettings: optimized
        ),
        .target(name: "NibbleTokenizer", swiftSettings: optimized),
        .target(name: "NibbleTemplates", swiftSettings: optimized),
        // Structured output: GBNF and JSON Schema grammars, matched over bytes; token masks from a vocabulary trie.
        .target(name: "NibbleGrammar", dependencies: ["NibbleTokenizer"], swiftSettings: optimized),
        .target(name: "NibbleKernels", dependencies: ["CNibbleKernels"], swiftSettings: optimized),
        // Vector kernels written with CPU intrinsics, chosen at run time by feature detection.
        .target(name: "CNibbleKernels", cSettings: [.unsafeFlags(["-O3"])]),

        // MARK: - Test support and tests
        .target(name: "NibbleTestSupport", dependencies: ["NibbleFormats"], path: "Sources/NibbleTestSupport"),
        // A scripted model and a byte-level tokenizer, for engine and server tests that must predict every token.
        .target(name: "NibbleTestFakes", dependencies: ["NibbleEngine", "NibbleModels", "NibbleTokenizer", "NibbleFormats"]),
        .testTarget(name: "NibbleKernelsTests", dependencies: ["NibbleKernels", "NibbleTestSupport"]),
        .testTarget(name: "NibbleFormatsTests", dependencies: ["NibbleFormats", "NibbleKernels", "NibbleTestSupport"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "NibbleTemplatesTests", dependencies: ["NibbleTemplates", "NibbleTestSupport"]),
        .testTarget(name: "NibbleTokenizerTests", dependencies: ["NibbleTokenizer", "NibbleTestSupport"]),
        .testTarget(
            name: "NibbleGrammarTests",
            dependencies: ["NibbleGrammar", "NibbleTokenizer", "NibbleModels", "NibbleTestSupport"]
        ),
        .testTarget(name: "NibbleQuantTests", dependencies: ["NibbleQuant", "NibbleKernels", "NibbleTestSupport"]),
        .testTarget(
            name: "NibbleModelsTests",
            dependencies: ["NibbleModels", "NibbleQuant", "NibbleFormats", "NibbleTokenizer", "NibbleKernels", "NibbleTemplates", "NibbleTestSupport"]
        ),
        .testTarget(
            name: "NibbleGenerationTests",
            dependencies: ["NibbleGeneration", "NibbleEngine", "NibbleModels", "NibbleKernels", "NibbleTokenizer", "NibbleTestSupport",
                           "NibbleTestFakes", "NibbleGrammar"]
        ),
        .testTarget(name: "NibbleCLITests", dependencies: ["nibble", "NibbleTokenizer", "NibbleTemplates", "NibbleTestSupport"]),
        .testTarget(
            name: "NibbleHubTests",
            dependencies: [
                "NibbleFormats", "NibbleTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .testTarget(
            name: "NibbleServerTests",
            dependencies: [
                "NibbleServer", "NibbleEngine", "NibbleModels", "NibbleQuant", "NibbleTestSupport", "NibbleTestFakes",
                "NibbleTemplates", "NibbleTokenizer", "NibbleGrammar",
                .product(name: "Hummingbird", package: "hummingbird"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
