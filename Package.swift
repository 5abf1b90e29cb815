// swift-tools-version:6.0
import Foundation
import PackageDescription

// Data flows one way: Numerics -> LanguageModel -> DraftHeads -> Speculation
// -> Visualization -> Lessons -> hydrasim. A lower module never imports a higher one.
let package = Package(
    name: "HydraSim",
    products: [
        .executable(name: "hydrasim", targets: ["hydrasim"]),
        .library(name: "Numerics", targets: ["Numerics"]),
        .library(name: "LanguageModel", targets: ["LanguageModel"]),
        .library(name: "DraftHeads", targets: ["DraftHeads"]),
        .library(name: "Speculation", targets: ["Speculation"]),
        .library(name: "Visualization", targets: ["Visualization"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // C libraries enter through system-library targets (no unsafe flags).
        .systemLibrary(
            name: "COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        .systemLibrary(
            name: "CGraphviz",
            pkgConfig: "libgvc",
            providers: [.apt(["libgraphviz-dev"])]
        ),
        .target(name: "Numerics", dependencies: ["COpenBLAS"]),
        .target(name: "LanguageModel", dependencies: ["Numerics"]),
        .target(name: "DraftHeads", dependencies: ["LanguageModel", "Numerics"]),
        .target(name: "Speculation", dependencies: ["DraftHeads", "LanguageModel", "Numerics"]),
        .target(name: "Visualization", dependencies: ["Speculation", "LanguageModel", "CGraphviz"]),
        .executableTarget(
            name: "hydrasim",
            dependencies: [
                "Visualization",
                "Speculation",
                "DraftHeads",
                "LanguageModel",
                "Numerics",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "NumericsTests", dependencies: ["Numerics"]),
        .testTarget(
            name: "LanguageModelTests",
            dependencies: ["LanguageModel", "Numerics"]
        ),
        .testTarget(name: "DraftHeadsTests", dependencies: ["DraftHeads", "LanguageModel", "Numerics"]),
        .testTarget(name: "SpeculationTests", dependencies: ["Speculation", "DraftHeads", "LanguageModel", "Numerics"]),
        .testTarget(name: "VisualizationTests", dependencies: ["Visualization", "Speculation", "DraftHeads", "LanguageModel", "Numerics"]),
        // Mutation fuzzing of every loader and of the numeric options (HYDRASIM_FUZZ_CASES sets the cases per format;
        // scripts/fuzz.sh runs the long version). The regression corpus is in Tests/FuzzCorpus.
        .testTarget(name: "FuzzTests", dependencies: ["hydrasim", "Visualization", "Speculation", "DraftHeads", "LanguageModel", "Numerics"]),
        // Runs the built `hydrasim` executable as a user would.
        .testTarget(name: "CommandLineTests", dependencies: ["hydrasim", "DraftHeads", "LanguageModel"]),
    ]
)

// Coverage-guided fuzzing with libFuzzer, a developer run (scripts/libfuzzer.sh): only declared when asked for,
// since it links only with `-sanitize=fuzzer`.
if ProcessInfo.processInfo.environment["HYDRASIM_LIBFUZZER"] == "1" {
    package.targets.append(.executableTarget(name: "HydraFuzz", dependencies: ["Visualization", "Speculation", "DraftHeads", "LanguageModel"],
                                             path: "Fuzz/HydraFuzz"))
    package.products.append(.executable(name: "HydraFuzz", targets: ["HydraFuzz"]))
}
