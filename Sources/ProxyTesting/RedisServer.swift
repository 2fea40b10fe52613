import Foundation

/// A real redis-server (Debian's package) on a free port of 127.0.0.1, without persistence.
public final class RedisServer: Sendable {
    public let port: Int
    private let peer: PeerProcess

    public static func start() async throws -> RedisServer {
        let server = try RedisServer()
        try await Wait.until("redis-server on port \(server.port)", timeout: .seconds(10)) { () throws -> Bool? in
            if isListening(server.port) { return true }
            if !server.peer.isRunning { throw TestFailure("redis-server exited:\n\(server.peer.output)") }
            return nil
        }
        return server
    }

    private init() throws {
        port = try FreePort.tcp()
        peer = try PeerProcess("redis-server", [
            "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--loglevel", "warning",
        ])
    }

    public func stop() {
        peer.stop(SIGTERM)
    }

    deinit {
        peer.stop(SIGKILL)
    }
}
