// swift-tools-version: 6.0
import PackageDescription

// Dependency direction: C module map → safe Swift wrapper → core → executables.
// The core (`WillItCompile`) never imports a C module.
// Linux only (bubblewrap, seccomp, cgroups, Glibc): no Apple platform is declared, as none builds it.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "will-it-compile",
    products: [
        .library(name: "WillItCompile", targets: ["WillItCompile"]),
        .library(name: "JobStore", targets: ["JobStore"]),
        .executable(name: "will-it-compile-worker", targets: ["Worker"]),
        .executable(name: "will-it-compile-responder", targets: ["Responder"]),
        // The command-line client.
        .executable(name: "will-it-compile", targets: ["CLI"]),
    ],
    dependencies: [
        // SHA-256 for the verdict cache's keys and the program caches' names.
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        // The command-line client's arguments.
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // Metrics (swift-metrics' API, exposed in Prometheus' text format) and structured logs.
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
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
        // libseccomp (Debian: libseccomp-dev). Used only by SeccompFilter.
        .systemLibrary(
            name: "CSeccomp",
            providers: [.apt(["libseccomp-dev"])]
        ),
        // The sandbox's system-call filter, built with libseccomp; C types stay inside.
        .target(
            name: "SeccompFilter",
            dependencies: ["CSeccomp"],
            swiftSettings: swiftSettings
        ),
        // glibc's <malloc.h> (mallopt), which the Glibc module leaves out. Used only by POSIXSupport.
        .systemLibrary(name: "CMalloc"),
        // Generic POSIX plumbing: system calls and errno, Unix sockets, a pthread condition,
        // process spawning with captured output and a deadline, malloc's arenas. Knows nothing of the service.
        .target(
            name: "POSIXSupport",
            dependencies: ["CMalloc"],
            swiftSettings: swiftSettings
        ),
        // Models, validation, job lifecycle, configuration. Pure Swift.
        .target(
            name: "WillItCompile",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
        // The JobStore protocol and its memory and Redis implementations.
        .target(
            name: "JobStore",
            dependencies: ["WillItCompile", "CHiredis", "POSIXSupport", .product(name: "CoreMetrics", package: "swift-metrics")],
            swiftSettings: swiftSettings
        ),
        // Unix-socket client of the worker, used by responders and tests.
        .target(
            name: "WorkerClient",
            dependencies: ["WillItCompile", "POSIXSupport"],
            swiftSettings: swiftSettings
        ),
        // The metrics of the whole host: what each process measures (swift-metrics), how a
        // responder hands its measurements to the worker, and the worker's Prometheus text.
        .target(
            name: "ServiceMetrics",
            dependencies: [
                "WillItCompile",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        // Structured logs: a logfmt handler for swift-log, one line per event, and LOG_LEVEL.
        .target(
            name: "ServiceLog",
            dependencies: ["WillItCompile", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        // The worker daemon's parts: socket server, queue, sandbox, toolchain probe.
        .target(
            name: "WorkerService",
            dependencies: [
                "WillItCompile", "JobStore", "SeccompFilter", "POSIXSupport", "ServiceMetrics",
                .product(name: "CoreMetrics", package: "swift-metrics"), .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "Worker",
            dependencies: [
                "WorkerService", "WillItCompile", "JobStore", "SeccompFilter", "ServiceMetrics", "ServiceLog",
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        // The HTTP API v1, independent of FastCGI.
        .target(
            name: "HTTPAPI",
            dependencies: ["WillItCompile", "JobStore", "WorkerClient", .product(name: "CoreMetrics", package: "swift-metrics")],
            swiftSettings: swiftSettings
        ),
        // FastCGI responder: the only place libfcgi is used.
        .executableTarget(
            name: "Responder",
            dependencies: [
                "HTTPAPI", "CFastCGI", "WillItCompile", "JobStore", "WorkerClient", "ServiceMetrics", "ServiceLog",
                "POSIXSupport",
                .product(name: "CoreMetrics", package: "swift-metrics"), .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The command-line client's logic: its commands and arguments, the API as a client
        // sees it (URLSession, so https works too), and what it prints.
        .target(
            name: "CommandLineClient",
            dependencies: ["WillItCompile", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: swiftSettings
        ),
        // `will-it-compile`: only the entry point of CommandLineClient.
        .executableTarget(
            name: "CLI",
            dependencies: ["CommandLineClient"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CommandLineClientTests",
            dependencies: ["CommandLineClient", "WillItCompile"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "WillItCompileTests",
            dependencies: ["WillItCompile", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "JobStoreTests",
            dependencies: ["JobStore", "WillItCompile", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        // The HTTP API in-process: its bodies, and every route against a fake worker.
        .testTarget(
            name: "HTTPAPITests",
            dependencies: ["HTTPAPI", "WillItCompile", "WorkerClient", "JobStore", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        // The logfmt handler, and how the responders' measurements reach the host's metrics.
        .testTarget(
            name: "ObservabilityTests",
            dependencies: [
                "ServiceLog", "ServiceMetrics", "WillItCompile", "TestSupport",
                .product(name: "CoreMetrics", package: "swift-metrics"), .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The generic POSIX plumbing, with real processes and descriptors.
        .testTarget(
            name: "POSIXSupportTests",
            dependencies: ["POSIXSupport"],
            swiftSettings: swiftSettings
        ),
        // Helpers shared by the tests that start real processes.
        .target(
            name: "TestSupport",
            dependencies: ["POSIXSupport"],
            path: "Tests/TestSupport",
            swiftSettings: swiftSettings
        ),
        // Drives the real worker daemon, sandbox and compilers.
        .testTarget(
            name: "WorkerTests",
            dependencies: ["Worker", "WorkerService", "WorkerClient", "WillItCompile", "JobStore", "TestSupport", "SeccompFilter", "POSIXSupport"],
            swiftSettings: swiftSettings
        ),
        // The whole stack through nginx, started by scripts/run.
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["Worker", "Responder", "CLI", "HTTPAPI", "TestSupport"],
            swiftSettings: swiftSettings
        ),
    ]
)
