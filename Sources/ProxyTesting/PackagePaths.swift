import Foundation

/// Where things are in this package, for tests that run the built binary or read shipped files.
public enum PackagePaths {
    /// The package root (the folder holding Package.swift).
    public static let root: URL = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    }()

    /// The `stream-proxy` binary: `$STREAM_PROXY_BIN`, else the one `swift build` left in .build.
    public static var proxyBinary: URL {
        get throws {
            if let override = ProcessInfo.processInfo.environment["STREAM_PROXY_BIN"], !override.isEmpty {
                return URL(fileURLWithPath: override)
            }
            for configuration in ["debug", "release"] {
                let candidate = root.appendingPathComponent(".build/\(configuration)/stream-proxy")
                if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            }
            throw TestFailure("stream-proxy binary not found under \(root.path)/.build; run `swift build` first (scripts/test does)")
        }
    }

    /// The Python of the test peers' virtual environment (`$STREAMPROXY_PEERS_VENV`, else
    /// .venv-peers/), which holds exactly Tests/Peers/requirements.txt; scripts/install-deps
    /// --test makes it.
    public static var peerPython: String {
        get throws {
            let environment = ProcessInfo.processInfo.environment["STREAMPROXY_PEERS_VENV"].flatMap { $0.isEmpty ? nil : $0 }
            let venv = environment ?? root.appendingPathComponent(".venv-peers").path
            let python = venv + "/bin/python3"
            guard FileManager.default.isExecutableFile(atPath: python) else {
                throw TestFailure("the test peers' Python (\(python)) is missing; scripts/test makes it (scripts/install-deps --test)")
            }
            return python
        }
    }

    /// A new empty temporary directory.
    public static func temporaryDirectory(_ prefix: String = "stream-proxy-test") throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// A failure with a message, for helpers that cannot use #expect.
public struct TestFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
