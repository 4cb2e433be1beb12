// swift-tools-version: 6.0
import PackageDescription

// Dependency direction: C module map → safe Swift wrapper → core → executables.
// The core (`WillItCompile`) never imports a C module.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "will-it-compile",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "WillItCompile", targets: ["WillItCompile"]),
        .library(name: "JobStore", targets: ["JobStore"]),
    ],
    targets: [
        // libfcgi (Debian: libfcgi-dev). Used only by the responder.
        .systemLibrary(
            name: "CFastCGI",
            providers: [.apt(["libfcgi-dev"])]
        ),
        // hiredis (Debian: libhiredis-dev). Used only by JobStore's Redis files.
        .systemLibrary(
            name: "CHiredis",
            providers: [.apt(["libhiredis-dev"])]
        ),
        // Models, validation, job lifecycle, configuration. Pure Swift.
        .target(
            name: "WillItCompile",
            swiftSettings: swiftSettings
        ),
        // The JobStore protocol and its memory and Redis implementations.
        .target(
            name: "JobStore",
            dependencies: ["WillItCompile", "CHiredis"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "WillItCompileTests",
            dependencies: ["WillItCompile"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "JobStoreTests",
            dependencies: ["JobStore", "WillItCompile"],
            swiftSettings: swiftSettings
        ),
    ]
)
