import Foundation

/// nginx with libnginx-mod-rtmp as an RTMP origin on a port of its own, in a directory of its own.
/// It runs as one process (no master/worker split), so stopping it never leaves a worker behind.
/// Its error log (level info) records every publish and play: `publish: name='s1'`, `play: name='s1'`.
public final class NginxRTMP: Sendable {
    public let port: Int
    public let directory: URL
    private let peer: PeerProcess

    public static func start() async throws -> NginxRTMP {
        let nginx = try NginxRTMP()
        try await Wait.until("nginx-rtmp on port \(nginx.port)", timeout: .seconds(10)) { () throws -> Bool? in
            if isListening(nginx.port) { return true }
            if !nginx.peer.isRunning { throw TestFailure("nginx exited:\n\(nginx.peer.output)") }
            return nil
        }
        return nginx
    }

    private init() throws {
        port = try FreePort.tcp()
        directory = try PackagePaths.temporaryDirectory("nginx-rtmp")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("tmp"), withIntermediateDirectories: true)
        let config = """
            load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
            daemon off;
            user root;
            master_process off;
            pid nginx.pid;
            error_log stderr info;
            events { worker_connections 1024; }
            rtmp {
                server {
                    listen 127.0.0.1:\(port);
                    chunk_size 4096;
                    application live { live on; record off; }
                }
            }
            """
        let file = directory.appendingPathComponent("nginx.conf")
        try config.write(to: file, atomically: true, encoding: .utf8)
        peer = try PeerProcess("nginx", ["-p", directory.path, "-c", file.path, "-e", "stderr"])
    }

    /// nginx's log so far.
    public var log: String { peer.output }

    /// Stream names nginx saw published (`publish: name='x'`) or played.
    public var published: [String] { Self.names("publish", in: log) }
    public var played: [String] { Self.names("play", in: log) }

    static func names(_ verb: String, in log: String) -> [String] {
        log.split(separator: "\n").compactMap { line in
            guard let range = line.range(of: " \(verb): name='") else { return nil }
            let rest = line[range.upperBound...]
            return rest.firstIndex(of: "'").map { String(rest[rest.startIndex..<$0]) }
        }
    }

    /// The registration body for the proxy's system API.
    public func registration(server: String) -> String {
        #"{"ip":"127.0.0.1","server":"\#(server)","service":"nginx","pid":"\#(peer.process.processIdentifier)","rtmp":["\#(port)"]}"#
    }

    public func stop() {
        peer.stop(SIGTERM)
    }

    deinit {
        peer.stop(SIGKILL)
        try? FileManager.default.removeItem(at: directory)
    }
}
