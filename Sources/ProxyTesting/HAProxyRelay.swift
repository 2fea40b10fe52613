import Foundation

/// A real haproxy (Debian's package) in `mode tcp` on a free port of 127.0.0.1 that accepts the
/// PROXY protocol (v1 and v2, `accept-proxy`) and passes the client it names on to `target` with
/// a v1 header (`send-proxy`): in front of nginx-rtmp, it checks a v2 header end to end.
public final class HAProxyRelay: Sendable {
    public let port: Int
    private let peer: PeerProcess
    private let directory: URL

    public static func start(to target: Int) async throws -> HAProxyRelay {
        let relay = try HAProxyRelay(target: target)
        try await Wait.until("haproxy on port \(relay.port)", timeout: .seconds(10)) { () throws -> Bool? in
            if isListening(relay.port) { return true }
            if !relay.peer.isRunning { throw TestFailure("haproxy exited:\n\(relay.peer.output)") }
            return nil
        }
        return relay
    }

    private init(target: Int) throws {
        port = try FreePort.tcp()
        directory = try PackagePaths.temporaryDirectory("haproxy")
        let file = directory.appendingPathComponent("haproxy.cfg")
        try """
            global
                maxconn 100
            defaults
                mode tcp
                timeout connect 2s
                timeout client 30s
                timeout server 30s
            frontend clients
                bind 127.0.0.1:\(port) accept-proxy
                default_backend origin
            backend origin
                server nginx 127.0.0.1:\(target) send-proxy

            """.write(to: file, atomically: true, encoding: .utf8)
        peer = try PeerProcess("haproxy", ["-db", "-f", file.path])
    }

    deinit {
        peer.stop(SIGKILL)
        try? FileManager.default.removeItem(at: directory)
    }
}
