// swift-tools-version: 6.1
//
// Layering (data flows one way: sensors → core → actuators):
//   ECMOCore      pure Swift: units, samples, control laws, lifecycle. No I/O, no clock.
//   ECMOHAL       protocols and value types for lines, I²C, PWM, clock, watchdog.
//   ECMODevices   datasheet facts (ABP2, ADS1115): registers, fields, tables, transfer functions.
//   ECMOPosix     the C library: monotonic clock, Unix sockets, durable files, mmap. With
//                 ECMOLinux the only modules that import Glibc/Darwin.
//   ECMOBoard     board files (Board/*.yaml): parsed and strictly validated.
//   ECMODrivers   device drivers written against ECMOHAL (ABP2, ADS1115, pump, tach...).
//   ECMOMockBoard in-memory board below the HAL with register-level device models.
//   ECMOSim       the circuit physics that drives the mock board's devices (depends on
//                 ECMOProtocol for the names it gives physics: particle, port, circuit).
//   ECMORuntime   the loop: read → update → write, output guard, telemetry rings, journal link.
//   ECMORecord    the run record and delivery journal files, written off the loop's thread
//                 from its rings (depends on ECMORuntime: the recorder consumes its frames).
//   ECMOConsoleLink the console link's socket server, beside the loop (RigLink's rings).
//   ECMOScenario  scenario files and the lockstep harness (re-exports ECMORecord for now).
//   ECMOSweep     sweep files: experiments made by editing a scenario's (and its protocol's)
//                 YAML tree, validated by the normal loaders; results as JSON Lines shards.
//   ECMOProtocol  experiment protocol files: strict loader, planner (doses → steps on a board),
//                 plan table; no simulator.
//   ECMORunStore  the run index (SQLite via GRDB), CSV export and HTML reports of run folders.
//   ECMOLink      the console link's wire protocol (JSON lines over a Unix socket): its own
//                 package in Link/, shared with the operator console (Console/).
//   ECMOLinux     libgpiod / i2c-dev / sysfs PWM / watchdog. The only module touching /dev.
//   ecmo-rig      the command-line program (bench tools in Sources/ecmo-rig/Hardware/).
//
// Direction of the record: ECMORecord → ECMORuntime, never the reverse. The loop pushes
// frames, events and journal snapshots into rings and touches no file; the recorder and
// the journal writer's file (DurableJournal) are consumers that drain them elsewhere.
//
// The Linux hardware module needs libgpiod's headers. It is added only when they
// are present (Linux with `libgpiod-dev`), so a laptop without them still builds
// and runs the simulation. `ECMO_LINUX_BACKEND=0|1` overrides the detection.
import PackageDescription
import Foundation

let environment = ProcessInfo.processInfo.environment
let gpiodHeaderFound = ["/usr/include/gpiod.h", "/usr/local/include/gpiod.h"]
    .contains { FileManager.default.fileExists(atPath: $0) }
#if os(Linux)
let buildLinuxBackend = environment["ECMO_LINUX_BACKEND"].map { $0 == "1" } ?? gpiodHeaderFound
#else
let buildLinuxBackend = false
#endif
// The run store (GRDB) needs SQLite's headers: on macOS in the SDK, on Linux from
// `libsqlite3-dev`. Without them ecmo-rig builds without `runs`/`report` (they then say
// what to install), so the simulation still runs on a machine with only Swift.
// `ECMO_RUN_STORE=0|1` overrides the detection.
#if os(Linux)
let sqliteHeaderFound = ["/usr/include/sqlite3.h", "/usr/local/include/sqlite3.h"]
    .contains { FileManager.default.fileExists(atPath: $0) }
let buildRunStore = environment["ECMO_RUN_STORE"].map { $0 == "1" } ?? sqliteHeaderFound
#else
let buildRunStore = environment["ECMO_RUN_STORE"].map { $0 == "1" } ?? true
#endif

// The tick is generic over the board's hardware (`HardwareProvider`'s device types), and
// these modules are compiled with cross-module optimisation so that the module that picks
// the hardware (ecmo-rig, the harness, tests, benchmarks) specialises the whole tick for it:
// direct calls, no existentials, no reference counting — ArduPilot picks its HAL at build
// time for the same reason. A root or path-dependency package may use these flags.
// Release builds of these modules also leave out the run-time exclusivity checks (a
// `swift_beginAccess` per access to a class's stored property: a third of a tick's
// instructions). The loop is single-threaded by construction (rings cross threads) and the
// debug builds that run the test suite keep every check on; this one flag replaces the
// `@exclusivity(unchecked)` annotations that used to be scattered over the tick path.
let specialised: [SwiftSetting] = [
    .unsafeFlags(["-cross-module-optimization", "-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

var targets: [Target] = [
    .target(name: "ECMOCore", swiftSettings: specialised),
    .target(name: "ECMOHAL", dependencies: ["ECMOCore"], swiftSettings: specialised),
    // The C library's calls (monotonic clock, Unix sockets, durable files, shared mappings):
    // with ECMOLinux the only module that imports Glibc/Darwin.
    .target(name: "ECMOPosix", dependencies: ["ECMOCore", "ECMOHAL"]),
    // Datasheet facts of the devices (ABP2, ADS1115): registers, fields, tables, transfer
    // functions, defined once for the drivers, the mock models and the board decoder.
    .target(name: "ECMODevices", dependencies: ["ECMOCore"], swiftSettings: specialised),
    .target(name: "ECMODataFile", dependencies: [.product(name: "Yams", package: "Yams")]),
    .target(name: "ECMOBoard", dependencies: ["ECMOCore", "ECMOHAL", "ECMODevices", "ECMODataFile", .product(name: "Yams", package: "Yams")], swiftSettings: specialised),
    // The shipped boards compiled to Swift by `ecmo-rig board compile` (embedded images carry
    // their board this way, with no YAML parser); the tests keep them equal to their files.
    .target(name: "ECMOCompiledBoards", dependencies: ["ECMOCore", "ECMOHAL", "ECMODevices", "ECMOBoard"]),
    .target(name: "ECMODrivers", dependencies: ["ECMOCore", "ECMOHAL", "ECMODevices"], swiftSettings: specialised),
    .target(name: "ECMOMockBoard", dependencies: ["ECMOCore", "ECMOHAL", "ECMODevices"], swiftSettings: specialised),
    .target(name: "ECMOSim", dependencies: [
        "ECMOCore", "ECMOHAL", "ECMOBoard", "ECMOMockBoard",
        // What is infused, where, into which circuit: the protocol's names, given physics here.
        "ECMOProtocol",
        // exp, log, cos without the C library (the same libm results).
        .product(name: "RealModule", package: "swift-numerics"),
    ], swiftSettings: specialised),
    .target(name: "ECMORuntime", dependencies: [
        // Atomics from the standard library's Synchronization: the same module builds in Embedded Swift.
        "ECMOCore", "ECMOHAL", "ECMOBoard", "ECMODevices", "ECMODrivers", "ECMOPosix",
    ], swiftSettings: specialised),
    // The run's records: the recorder (telemetry.csv, events.jsonl, summary.json) and the
    // delivery journal's file. Consumers of the loop's rings, so they depend on the runtime,
    // never the reverse: the loop pushes into rings and does no file I/O.
    // The run record's formats, shared by the hosted recorder and the Pi image (Embedded Swift).
    .target(name: "ECMORecordFormat", dependencies: ["ECMOCore", "ECMORuntime"]),
    // HAL transcripts: a run's HAL calls recorded on one build, replayed against another
    // (the Pi image under qemu-aarch64). Embedded Swift too.
    .target(name: "ECMOTranscript", dependencies: ["ECMOCore", "ECMOHAL", "ECMOBoard", "ECMORuntime"]),
    .target(name: "ECMORecord", dependencies: ["ECMOCore", "ECMORuntime", "ECMORecordFormat", "ECMOPosix"]),
    // The console link's server (docs/console-protocol.md): a socket thread beside the loop,
    // reaching it only through RigLink's rings.
    .target(name: "ECMOConsoleLink", dependencies: [
        "ECMOCore", "ECMOBoard", "ECMORuntime", "ECMORecord", "ECMOPosix",
        .product(name: "ECMOLink", package: "Link"),
    ]),
    // The one composition root: board + settings + protocol → a rig, with its boot sequence.
    .target(name: "ECMOAssembly", dependencies: [
        "ECMOCore", "ECMOHAL", "ECMOBoard", "ECMORuntime", "ECMORecord", "ECMOSim", "ECMOProtocol",
    ], swiftSettings: specialised),
    .target(name: "ECMOScenario", dependencies: [
        "ECMOCore", "ECMOHAL", "ECMODataFile", "ECMOBoard", "ECMOMockBoard", "ECMOSim", "ECMORuntime", "ECMORecord", "ECMOProtocol", "ECMOAssembly",
        "ECMOTranscript", .product(name: "Yams", package: "Yams"),
    ]),
    .target(name: "ECMOProtocol", dependencies: [
        "ECMOCore", "ECMODataFile", "ECMOBoard",
        .product(name: "Yams", package: "Yams"),
    ]),
    // Sweeps: many experiments made from one scenario by editing its YAML tree, each loaded
    // by the normal strict loaders, run by the scenario runner, results as JSON Lines shards.
    .target(name: "ECMOSweep", dependencies: [
        "ECMOScenario", "ECMODataFile", "ECMOBoard", "ECMOProtocol", "ECMOPosix",
        .product(name: "Yams", package: "Yams"),
    ]),
    .executableTarget(name: "ecmo-rig", dependencies: [
        "ECMOScenario", "ECMOSweep", "ECMODataFile", "ECMOProtocol", "ECMOAssembly",
        "ECMOCore", "ECMOHAL", "ECMODevices", "ECMOBoard", "ECMODrivers", "ECMORuntime", "ECMORecord", "ECMOSim", "ECMOPosix", "ECMOConsoleLink",
        .product(name: "ECMOLink", package: "Link"),
        .target(name: "ECMOLinux", condition: .when(platforms: [.linux])),
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        // rt-check's lateness histogram: the program only, never the firmware core.
        .product(name: "Histogram", package: "hdrhistogram-swift"),
    ]),
    .target(name: "AllocationCounter", path: "Tests/AllocationCounter"),
    // The simulated rig the test targets share (built through RigAssembly, like the program).
    .target(name: "RigTestSupport", dependencies: ["ECMOCore", "ECMOHAL", "ECMOBoard", "ECMOSim", "ECMORuntime", "ECMOAssembly"],
            path: "Tests/RigTestSupport"),
    // Counts retains/releases by defining the runtime's entry points in the executable that
    // links it (tests, benchmarks): never linked into ecmo-rig.
    .target(name: "ARCCounter", path: "Tests/ARCCounter", linkerSettings: [.linkedLibrary("dl", .when(platforms: [.linux]))]),
    // CI's release-build gate: a tick allocates nothing and retains nothing (see Tests/TickGate).
    .executableTarget(name: "tick-gate", dependencies: [
        "ECMOCore", "ECMOHAL", "ECMOBoard", "ECMOSim", "ECMORuntime", "ECMOProtocol", "ECMOScenario", "ECMOAssembly",
        "AllocationCounter", "ARCCounter",
    ], path: "Tests/TickGate", swiftSettings: specialised),
    .testTarget(name: "ECMOCoreTests", dependencies: ["ECMOCore"]),
    .testTarget(name: "ECMODevicesTests", dependencies: ["ECMODevices", "ECMOCore"]),
    .testTarget(name: "ECMOPosixTests", dependencies: ["ECMOPosix", "ECMOCore", "ECMOHAL"]),
    .testTarget(name: "ECMOBoardTests", dependencies: ["ECMOBoard", "ECMODevices", "ECMOCompiledBoards", "RigTestSupport"]),
    .testTarget(name: "ECMODriversTests", dependencies: ["ECMODrivers", "ECMODevices", "ECMOMockBoard", "ECMOHAL"]),
    .testTarget(name: "ECMOMockBoardTests", dependencies: ["ECMOMockBoard", "ECMODevices", "ECMOHAL"]),
    .testTarget(name: "ECMOSimTests", dependencies: ["ECMOSim", "ECMOBoard", "ECMOProtocol"]),
    .testTarget(name: "ECMOScenarioTests", dependencies: ["ECMOScenario", "ECMODataFile", "ECMOTranscript", "ECMOBoard", "ECMOCore", "ECMOSim", "RigTestSupport"]),
    .testTarget(name: "ECMOSweepTests", dependencies: ["ECMOSweep", "ECMOScenario", "ECMODataFile", "RigTestSupport", .product(name: "Yams", package: "Yams")]),
    .testTarget(name: "ECMOProtocolTests", dependencies: ["ECMOProtocol", "ECMOBoard", "ECMODataFile", "ECMOCore", "ECMOSim", "ECMORuntime", "ECMORecord", "RigTestSupport"]),
    .testTarget(name: "ECMORuntimeTests", dependencies: ["ECMORuntime", "ECMOPosix", "ECMORecord", "ECMOSim", "ECMOMockBoard", "ECMOAssembly", "AllocationCounter", "ARCCounter", "RigTestSupport"]),
    .testTarget(name: "ECMORecordTests", dependencies: ["ECMORecord", "ECMORuntime", "ECMOCore", "ECMOSim", "ECMOBoard"]),
    .testTarget(name: "ECMOConsoleLinkTests", dependencies: [
        "ECMOConsoleLink", "ECMORecord", "ECMORuntime", "ECMOSim", "ECMOAssembly", "RigTestSupport", .product(name: "ECMOLink", package: "Link"),
    ]),
]

if buildRunStore {
    targets += [
        // The run store: an SQLite index (GRDB) of the run folders, exports and reports.
        // Derived data only: it reads run records, never writes them.
        .target(name: "ECMORunStore", dependencies: [
            "ECMORuntime", "ECMOCore", .product(name: "ECMOLink", package: "Link"),
            .product(name: "GRDB", package: "GRDB.swift"),
        ]),
        .testTarget(name: "ECMORunStoreTests", dependencies: [
            "ECMORunStore", "ECMORuntime", "ECMORecord", "ECMOScenario", .product(name: "GRDB", package: "GRDB.swift"),
        ]),
    ]
    if let i = targets.firstIndex(where: { $0.name == "ecmo-rig" }) {
        targets[i].dependencies.append("ECMORunStore")
        targets[i].swiftSettings = (targets[i].swiftSettings ?? []) + [.define("ECMO_RUN_STORE")]
    }
}

// CLinuxIO (system calls, ioctl numbers and kernel structs for i2c-dev, the watchdog and
// sysfs PWM) needs only the C library and the kernel's uAPI headers: it is always built.
// CGPIOD is our own small GPIO API in C (`include/ecmo_gpiod.h`), compiled against
// whichever libgpiod is installed, v1 or v2 (see `shim.c`), so it exists only with libgpiod.
targets += [.target(name: "CLinuxIO")]
if buildLinuxBackend {
    targets += [
        .target(name: "CGPIOD", linkerSettings: [.linkedLibrary("gpiod")]),
        .target(name: "ECMOLinux", dependencies: ["ECMOCore", "ECMOHAL", "ECMOBoard", "ECMOPosix", "CLinuxIO", "CGPIOD"]),
        .testTarget(name: "ECMOLinuxTests", dependencies: ["ECMOLinux", "ECMOHAL", "ECMOCore", "ECMOBoard", "ECMOPosix", "CLinuxIO", "ECMORuntime", "AllocationCounter"]),
    ]
} else {
    // Without libgpiod the target still exists, but holds only what needs no library,
    // so `ecmo-rig` names one module everywhere.
    targets += [
        .target(name: "ECMOLinux", dependencies: ["ECMOCore", "ECMOHAL", "ECMOBoard", "ECMOPosix", "CLinuxIO"],
                exclude: ["GPIOD"], swiftSettings: [.define("ECMO_NO_GPIOD")]),
    ]
}

// The fuzz targets (scripts/fuzz, docs/reliability.md): one libFuzzer binary, only when
// `ECMO_FUZZ=1`, because it calls libFuzzer's driver, which exists only in a build with
// `-sanitize=fuzzer`.
if environment["ECMO_FUZZ"] == "1" {
    var fuzzDependencies: [Target.Dependency] = [
        "ECMOCore", "ECMOBoard", "ECMOProtocol", "ECMOScenario", "ECMOSweep", "ECMORecord", "ECMORuntime",
        .product(name: "ECMOLink", package: "Link"), "CFuzzerDriver",
    ]
    var fuzzSettings: [SwiftSetting] = []
    if buildRunStore {
        fuzzDependencies.append("ECMORunStore")
        fuzzSettings.append(.define("ECMO_RUN_STORE"))
    }
    targets += [.target(name: "CFuzzerDriver", path: "Fuzz/Sources/CFuzzerDriver")]
    targets += [.executableTarget(name: "ecmo-fuzz", dependencies: fuzzDependencies, path: "Fuzz/Sources/ecmo-fuzz",
                                  swiftSettings: fuzzSettings)]
}

let package = Package(
    name: "ecmo-rig",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "ecmo-rig", targets: ["ecmo-rig"]),
        .library(name: "ECMOCore", targets: ["ECMOCore"]),
        .library(name: "ECMORuntime", targets: ["ECMORuntime"]),
        .library(name: "ECMORecord", targets: ["ECMORecord"]),
        .library(name: "ECMOSim", targets: ["ECMOSim"]),
        .library(name: "ECMOAssembly", targets: ["ECMOAssembly"]),
        // Test support for the benchmark package (retain/release counting).
        .library(name: "ARCCounter", targets: ["ARCCounter"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-numerics", from: "1.1.0"),
        // The console link's wire protocol, a package of its own (Link/) that Console/ shares.
        .package(path: "Link"),
    ],
    targets: targets
)
