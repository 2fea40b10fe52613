import Foundation

/// A real redis-server (Debian's package) on a free port of 127.0.0.1, without persistence.
public final class RedisServer: Sendable {
    public let port: Int
    private let peer: PeerProcess

    /// Starts a server on a free port, or on `port` (a restart on the port a stopped one used),
    /// with `arguments` added to its command line (`["--requirepass", "secret"]`).
    public static func start(port: Int? = nil, arguments: [String] = []) async throws -> RedisServer {
        let server = try RedisServer(port: port, arguments: arguments)
        try await Wait.until("redis-server on port \(server.port)", timeout: .seconds(10)) { () throws -> Bool? in
            if isListening(server.port) { return true }
            if !server.peer.isRunning { throw TestFailure("redis-server exited:\n\(server.peer.output)") }
            return nil
        }
        return server
    }

    private init(port: Int?, arguments: [String]) throws {
        self.port = try port ?? FreePort.tcp()
        peer = try PeerProcess("redis-server", [
            "--port", String(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--loglevel", "warning",
        ] + arguments)
    }

    public func stop() {
        peer.stop(SIGTERM)
    }

    /// Stops the server and waits until it has exited (its port is free again).
    public func stopAndWait() async throws {
        peer.stop(SIGKILL)
        _ = try await peer.wait(timeout: .seconds(10))
    }

    deinit {
        peer.stop(SIGKILL)
    }
}
