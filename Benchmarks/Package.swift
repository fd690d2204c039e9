// swift-tools-version: 6.1
//
// Benchmarks of the rig, kept in their own package so that the root package's
// `swift build` / `swift test` never resolve or build ordo-one/benchmark.
// Run from this directory:  swift package benchmark   (see ../docs/performance.md)
import PackageDescription

let package = Package(
    name: "ecmo-rig-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        // The firmware itself, by path: whatever is checked out next to this folder.
        .package(name: "ecmo-rig", path: ".."),
        // MallocInterposer gives the mallocCountTotal metric on Swift 6.3 (no jemalloc needed).
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // Builds a regulating simulated rig the same way the tests and the CLI do.
        .target(
            name: "RigBenchSupport",
            dependencies: [
                .product(name: "ECMORuntime", package: "ecmo-rig"),
                .product(name: "ECMORecord", package: "ecmo-rig"),
                .product(name: "ECMOSim", package: "ecmo-rig"),
                .product(name: "ECMOCore", package: "ecmo-rig"),
                .product(name: "ECMOAssembly", package: "ecmo-rig"),
            ],
            path: "Support/RigBenchSupport"
        ),
        // The plugin discovers executable targets whose folder is Benchmarks/<Name>.
        .executableTarget(
            name: "RigBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "ECMORuntime", package: "ecmo-rig"),
                .product(name: "ECMOSim", package: "ecmo-rig"),
                .product(name: "ECMOCore", package: "ecmo-rig"),
                "RigBenchSupport",
                .product(name: "ARCCounter", package: "ecmo-rig"),
            ],
            path: "RigBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // Not a benchmark (its folder is not directly under Benchmarks/): a plain release
        // executable for valgrind/callgrind and perf.
        .executableTarget(
            name: "TickProfile",
            dependencies: [
                .product(name: "ECMORuntime", package: "ecmo-rig"),
                .product(name: "ECMOSim", package: "ecmo-rig"),
                .product(name: "ECMOCore", package: "ecmo-rig"),
                "RigBenchSupport",
                .product(name: "ARCCounter", package: "ecmo-rig"),
            ],
            path: "Tools/TickProfile"
        ),
    ]
)
