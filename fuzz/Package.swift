// swift-tools-version:6.1
// The fuzz build: the repository's package as a dependency, so the fuzzer links its targets as
// they are built for the product (no hand-picked list of files). fuzz/run builds it with
// `swift build --sanitize=fuzzer --sanitize=address -Xswiftc -enable-testing` (the fuzzer reads
// module internals through @testable imports) and runs it.
//
// The system API, the commands API (Host) and the Redis registry are no library products of the
// repository's package, so they are compiled here from the repository's own folders, whole:
// Sources/FuzzHost and Sources/FuzzRedisRegistry are symbolic links to ../../Sources/Host and
// ../../Sources/Registry/Redis, Sources/FuzzCHiredis links the hiredis module map. Target names
// must be unique across the package graph, hence the Fuzz prefix; Host's `import RedisRegistry`
// is pointed at FuzzRedisRegistry with -module-alias, and Host's @main entry point is renamed so
// that libFuzzer's main() is the program's.
import PackageDescription

let swiftSettings: [SwiftSetting] = [.swiftLanguageMode(.v6), .enableUpcomingFeature("ExistentialAny")]

let package = Package(
    name: "StreamProxyFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "StreamProxy", path: ".."),
        // The repository's own dependencies (same URLs and versions), for Host and NIOEmbedded.
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
        .systemLibrary(name: "FuzzCHiredis", path: "Sources/FuzzCHiredis"),
        .target(
            name: "FuzzRedisRegistry",
            dependencies: ["FuzzCHiredis", .product(name: "ProxyCore", package: "StreamProxy")],
            path: "Sources/FuzzRedisRegistry", swiftSettings: swiftSettings),
        .target(
            name: "FuzzHost",
            dependencies: [
                "FuzzRedisRegistry",
                .product(name: "ProxyCore", package: "StreamProxy"), .product(name: "ProxyNet", package: "StreamProxy"),
                .product(name: "RTMP", package: "StreamProxy"), .product(name: "HTTPFLV", package: "StreamProxy"),
                .product(name: "SRT", package: "StreamProxy"), .product(name: "WebRTC", package: "StreamProxy"),
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
            path: "Sources/FuzzHost",
            resources: [.embedInCode("Console/console.html")],
            swiftSettings: swiftSettings + [
                .unsafeFlags([
                    "-module-alias", "RedisRegistry=FuzzRedisRegistry",
                    "-Xfrontend", "-entry-point-function-name", "-Xfrontend", "FuzzHost_main",
                ]),
            ]),
        .executableTarget(
            name: "ParserFuzzer",
            dependencies: [
                "FuzzHost", "FuzzRedisRegistry", "FuzzCHiredis",
                .product(name: "ProxyCore", package: "StreamProxy"),
                .product(name: "ProxyHTTP", package: "StreamProxy"),
                .product(name: "ProxyNet", package: "StreamProxy"),
                .product(name: "RTMP", package: "StreamProxy"),
                .product(name: "HTTPFLV", package: "StreamProxy"),
                .product(name: "SRT", package: "StreamProxy"),
                .product(name: "WebRTC", package: "StreamProxy"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ]
)
