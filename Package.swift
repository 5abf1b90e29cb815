// swift-tools-version:6.0
import Foundation
import PackageDescription

// Data flows one way: Numerics -> LanguageModel -> DraftHeads -> Speculation
// -> Visualization -> REPL -> Lessons -> hydrasim. A lower module never imports a higher one.
let package = Package(
    name: "HydraSim",
    products: [
        .executable(name: "hydrasim", targets: ["hydrasim"]),
        .library(name: "Numerics", targets: ["Numerics"]),
        .library(name: "LanguageModel", targets: ["LanguageModel"]),
        .library(name: "DraftHeads", targets: ["DraftHeads"]),
        .library(name: "Speculation", targets: ["Speculation"]),
        .library(name: "Visualization", targets: ["Visualization"]),
        .library(name: "REPL", targets: ["REPL"]),
        .library(name: "Lessons", targets: ["Lessons"]),
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
        // The forward kernels (C11): per-function target attributes and a run-time CPU check, so the package
        // builds on any x86-64 or arm64 machine without unsafe flags.
        .target(name: "CKernels", cSettings: [.define("_GNU_SOURCE", .when(platforms: [.linux]))]),
        .target(name: "Numerics", dependencies: ["COpenBLAS", "CKernels"]),
        .target(name: "LanguageModel", dependencies: ["Numerics"]),
        .target(name: "DraftHeads", dependencies: ["LanguageModel", "Numerics"]),
        .target(name: "Speculation", dependencies: ["DraftHeads", "LanguageModel", "Numerics"]),
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        .target(name: "Visualization", dependencies: ["Speculation", "LanguageModel", "CGraphviz", "CZlib"]),
        .systemLibrary(
            name: "CEdit",
            pkgConfig: "libedit",
            providers: [.apt(["libedit-dev"])]
        ),
        // The stepping REPL's interpreter (a line in, its output out), shared by `hydrasim step` and the lessons.
        .target(name: "REPL", dependencies: ["Visualization", "Speculation", "DraftHeads", "LanguageModel", "Numerics"]),
        // The curriculum: the lessons' manifest, answers computed by the simulator, toy models, progress.
        .target(name: "Lessons", dependencies: ["REPL", "Visualization", "Speculation", "DraftHeads", "LanguageModel", "Numerics"]),
        .executableTarget(
            name: "hydrasim",
            dependencies: [
                "Lessons",
                "REPL",
                "CEdit",
                "Visualization",
                "Speculation",
                "DraftHeads",
                "LanguageModel",
                "Numerics",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Test helpers (paths from #filePath, the product's own Fixtures lookup), shared by every test target.
        .target(name: "TestSupport", dependencies: ["LanguageModel"], path: "Tests/TestSupport"),
        .testTarget(name: "NumericsTests", dependencies: ["Numerics"]),
        .testTarget(
            name: "LanguageModelTests",
            dependencies: ["TestSupport", "LanguageModel", "Numerics"]
        ),
        .testTarget(name: "DraftHeadsTests", dependencies: ["TestSupport", "DraftHeads", "LanguageModel", "Numerics"]),
        // Counts the test thread's heap allocations (interposes malloc and friends on Linux/glibc, forwarding each call to
        // glibc's own allocator): a test-only dependency, for the test that decoding steps allocate only their record.
        .target(name: "CAllocationCounter", path: "Tests/CAllocationCounter"),
        .testTarget(name: "SpeculationTests", dependencies: ["TestSupport", "CAllocationCounter", "Speculation", "DraftHeads", "LanguageModel", "Numerics"]),
        .testTarget(name: "VisualizationTests", dependencies: ["TestSupport", "CZlib", "Visualization", "Speculation", "DraftHeads", "LanguageModel", "Numerics"]),
        .testTarget(name: "LessonsTests", dependencies: ["TestSupport", "Lessons", "REPL", "Speculation", "LanguageModel", "Numerics"]),
        .testTarget(name: "REPLTests", dependencies: ["TestSupport", "REPL", "Visualization", "Speculation", "DraftHeads", "LanguageModel", "Numerics"],
                    exclude: ["Golden"]),  // the golden transcript is read from the source tree, not bundled
        // Mutation fuzzing of every loader and of the numeric options (HYDRASIM_FUZZ_CASES sets the cases per format;
        // scripts/fuzz.sh runs the long version). The regression corpus is in Tests/FuzzCorpus.
        .testTarget(name: "FuzzTests", dependencies: ["TestSupport", "hydrasim", "Visualization", "Speculation", "DraftHeads", "LanguageModel", "Numerics"]),
        // Runs the built `hydrasim` executable as a user would.
        .testTarget(name: "CommandLineTests", dependencies: ["TestSupport", "hydrasim", "DraftHeads", "LanguageModel", "Numerics"]),
    ]
)

// Coverage-guided fuzzing with libFuzzer, a developer run (scripts/libfuzzer.sh): only declared when asked for,
// since it links only with `-sanitize=fuzzer`.
if ProcessInfo.processInfo.environment["HYDRASIM_LIBFUZZER"] == "1" {
    package.targets.append(.executableTarget(name: "HydraFuzz", dependencies: ["Visualization", "Speculation", "DraftHeads", "LanguageModel"],
                                             path: "Fuzz/HydraFuzz"))
    package.products.append(.executable(name: "HydraFuzz", targets: ["HydraFuzz"]))
}
