// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "StreamProxy",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "stream-proxy", targets: ["Host"]),
        // The building blocks, for the fuzz build (fuzz/Package.swift) and for embedding.
        .library(name: "ProxyCore", targets: ["ProxyCore"]),
        .library(name: "ProxyHTTP", targets: ["ProxyHTTP"]),
        .library(name: "ProxyNet", targets: ["ProxyNet"]),
        .library(name: "RTMP", targets: ["RTMP"]),
        .library(name: "HTTPFLV", targets: ["HTTPFLV"]),
        .library(name: "SRT", targets: ["SRT"]),
        .library(name: "WebRTC", targets: ["WebRTC"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        // Contracts and routing: no sockets, no protocols.
        .target(
            name: "ProxyCore",
            dependencies: [.product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        // Shared network mechanisms on SwiftNIO: listener, dialer, glue relay, UDP session table,
        // and the module contract.
        // HTTP pieces the modules share: the client request head parser, CORS, the proxy's header rules.
        .target(
            name: "ProxyHTTP",
            dependencies: ["ProxyCore", .product(name: "NIOHTTP1", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        // Batched UDP I/O (recvmmsg, sendmmsg with UDP GSO, epoll) for ProxyNet's UDPFastPath (Linux).
        .target(name: "CUDPBatch", path: "Sources/CUDPBatch"),
        // The C allocator's free-memory figure and trim, for ProxyNet's HeapTrim.
        .target(name: "CMalloc", path: "Sources/CMalloc"),
        .target(
            name: "ProxyNet",
            dependencies: [
                "ProxyCore",
                "CUDPBatch",
                "CMalloc",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // Protocol modules. Each folder holds one module; Host lists them in BuiltinModules.swift.
        .target(name: "RTMP", dependencies: ["ProxyNet", .product(name: "NIOCore", package: "swift-nio")], path: "Sources/Modules/RTMP", swiftSettings: swiftSettings),
        // Debian's libhiredis-dev, the Redis client under RedisRegistry.
        .systemLibrary(name: "CHiredis", path: "Sources/CHiredis", providers: [.apt(["libhiredis-dev"])]),
        // The Registry in a shared Redis (several proxies, one view).
        .target(
            name: "RedisRegistry",
            dependencies: ["ProxyCore", "CHiredis"],
            path: "Sources/Registry/Redis", swiftSettings: swiftSettings),
        .target(
            name: "HTTPFLV",
            dependencies: [
                "ProxyNet", "ProxyHTTP",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            path: "Sources/Modules/HTTPFLV", swiftSettings: swiftSettings),
        .target(
            name: "SRT",
            dependencies: [
                "ProxyNet", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"), .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Sources/Modules/SRT", swiftSettings: swiftSettings),
        .target(
            name: "WebRTC",
            dependencies: [
                "ProxyNet", "ProxyHTTP",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/Modules/WebRTC", swiftSettings: swiftSettings),
        // The module guide's example (docs/adding-a-module.md): built for the tests only, which
        // register it in a host beside the real modules.
        .target(
            name: "LineRelay",
            dependencies: ["ProxyNet", .product(name: "NIOCore", package: "swift-nio"), .product(name: "Logging", package: "swift-log")],
            path: "Examples/LineRelay", swiftSettings: swiftSettings),
        // The executable: CLI, config, catalog, system API, lifecycle.
        .executableTarget(
            name: "Host",
            dependencies: [
                "ProxyCore", "ProxyNet", "RTMP", "HTTPFLV", "SRT", "WebRTC", "RedisRegistry",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            resources: [.embedInCode("Console/console.html")],
            swiftSettings: swiftSettings
        ),
        // Helpers shared by test targets: free ports, process launcher, readiness probes, a hook server.
        .target(
            name: "ProxyTesting",
            dependencies: [
                "ProxyCore", "ProxyNet", .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"), .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "ProxyCoreTests", dependencies: ["ProxyCore", "ProxyTesting"], swiftSettings: swiftSettings),
        .testTarget(name: "ProxyHTTPTests", dependencies: ["ProxyHTTP", "ProxyCore"], swiftSettings: swiftSettings),
        .testTarget(name: "RedisRegistryTests", dependencies: ["RedisRegistry", "ProxyCore", "ProxyTesting"], swiftSettings: swiftSettings),
        .testTarget(
            name: "ProxyNetTests",
            dependencies: [
                "ProxyNet", "ProxyTesting",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "HostTests",
            dependencies: [
                "Host", "ProxyCore", "ProxyNet", "ProxyTesting", "LineRelay", .product(name: "Yams", package: "Yams"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["ProxyTesting", "ProxyCore", "SRT", "RTMP"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "HTTPFLVTests",
            dependencies: [
                "HTTPFLV", "ProxyCore", "ProxyHTTP", "ProxyNet", "ProxyTesting",
                .product(name: "NIOPosix", package: "swift-nio"), .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/HTTPFLVTests", swiftSettings: swiftSettings),
        .testTarget(
            name: "WebRTCTests",
            dependencies: [
                "WebRTC", "ProxyCore", "ProxyHTTP", "ProxyNet", "ProxyTesting",
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(name: "SRTTests", dependencies: ["SRT", "ProxyCore", "ProxyNet", "ProxyTesting", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"), .product(name: "Logging", package: "swift-log")], swiftSettings: swiftSettings),
        .testTarget(name: "RTMPTests", dependencies: ["RTMP", "ProxyCore", "ProxyNet", "ProxyTesting", .product(name: "NIOPosix", package: "swift-nio"), .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOEmbedded", package: "swift-nio")], swiftSettings: swiftSettings),
    ]
)
