// swift-tools-version: 6.1
//
// The operator console (`ecmo-console`): a web dashboard and authenticated HTTP API that
// talks to a running `ecmo-rig` over its Unix console socket (docs/console-protocol.md).
// Kept in its own package, like Benchmarks/, so the firmware never resolves or builds
// Hummingbird and its dependencies; and it depends on the link protocol's package (Link/)
// alone, so it never resolves or builds the firmware. Build from this directory: `swift build`.
import PackageDescription

let package = Package(
    name: "ecmo-console",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "ecmo-console", targets: ["ecmo-console"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.81.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        // Sessions that survive a restart (SQLite), and only a SHA-256 of each token stored.
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.0.0"),
        // The link protocol's own package (../Link): the console builds nothing else of ours.
        .package(path: "../Link"),
    ],
    targets: [
        // Users, sessions, rate limits, the rig link, the HTTP/WebSocket application, metrics.
        .target(name: "ECMOConsole", dependencies: [
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
            .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Yams", package: "Yams"),
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "ECMOLink", package: "Link"),
        ], resources: [.copy("Web")]),
        .executableTarget(name: "ecmo-console", dependencies: [
            "ECMOConsole",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Hummingbird", package: "hummingbird"),
        ]),
        // A stand-in rig speaking ECMOLink, for the tests and the browser test.
        .target(name: "ECMOFakeRig", dependencies: [
            .product(name: "ECMOLink", package: "Link"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        .executableTarget(name: "ecmo-fake-rig", dependencies: ["ECMOFakeRig"]),
        .testTarget(name: "ECMOConsoleTests", dependencies: [
            "ECMOConsole", "ECMOFakeRig",
            .product(name: "ECMOLink", package: "Link"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "HummingbirdWSTesting", package: "hummingbird-websocket"),
        ]),
    ]
)
