// swift-tools-version: 6.1
//
// The console link's wire protocol (docs/console-protocol.md): message types, the JSON
// codec and the line framer, Foundation only. Its own package so that the operator
// console (Console/) depends on this alone and never resolves or builds the firmware;
// the firmware (../Package.swift) depends on it by path for the rig's side of the link.
// Test from the repository root: `swift test --package-path Link` (scripts/test does).
import PackageDescription

let package = Package(
    name: "ecmo-link",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "ECMOLink", targets: ["ECMOLink"]),
    ],
    targets: [
        .target(name: "ECMOLink"),
        .testTarget(name: "ECMOLinkTests", dependencies: ["ECMOLink"]),
    ]
)
