// swift-tools-version:6.1
// The fuzz build: the repository's package as a dependency, so the fuzzer links its targets as
// they are built for the product (no hand-picked list of files). fuzz/run builds it with
// `swift build --sanitize=fuzzer --sanitize=address -Xswiftc -enable-testing` (the fuzzer reads
// module internals through @testable imports) and runs it.
import PackageDescription

let package = Package(
    name: "StreamProxyFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "StreamProxy", path: "..")],
    targets: [
        .executableTarget(
            name: "ParserFuzzer",
            dependencies: [
                .product(name: "ProxyCore", package: "StreamProxy"),
                .product(name: "ProxyHTTP", package: "StreamProxy"),
                .product(name: "HTTPFLV", package: "StreamProxy"),
                .product(name: "SRT", package: "StreamProxy"),
                .product(name: "WebRTC", package: "StreamProxy"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ]
)
