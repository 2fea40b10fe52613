import Foundation

/// nginx with libnginx-mod-rtmp as an RTMP origin on a port of its own, in a directory of its own.
/// It runs as one process (no master/worker split), so stopping it never leaves a worker behind.
/// Its error log (level info) records every publish and play: `publish: name='s1'`, `play: name='s1'`.
/// With `hls: true` it also writes HLS (1 s segments) and serves it over HTTP at
/// `http://127.0.0.1:<httpPort>/live/<name>.m3u8`, logging every request to `accessLog`.
public final class NginxRTMP: Sendable {
    public let port: Int
    public let httpPort: Int?
    public let directory: URL
    private let peer: PeerProcess

    /// `applications`: more RTMP applications beside `live` (plain live ones, no HLS);
    /// `proxyProtocol`: the RTMP listener expects a PROXY protocol header (`listen ... proxy_protocol`).
    public static func start(hls: Bool = false, applications: [String] = [], proxyProtocol: Bool = false) async throws -> NginxRTMP {
        let nginx = try NginxRTMP(hls: hls, applications: applications, proxyProtocol: proxyProtocol)
        try await Wait.until("nginx-rtmp on port \(nginx.port)", timeout: .seconds(10)) { () throws -> Bool? in
            if isListening(nginx.port) && (nginx.httpPort.map(isListening) ?? true) { return true }
            if !nginx.peer.isRunning { throw TestFailure("nginx exited:\n\(nginx.peer.output)") }
            return nil
        }
        return nginx
    }

    private init(hls: Bool, applications: [String], proxyProtocol: Bool) throws {
        port = try FreePort.tcp()
        httpPort = hls ? try FreePort.tcp() : nil
        directory = try PackagePaths.temporaryDirectory("nginx-rtmp")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("tmp"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("hls"), withIntermediateDirectories: true)
        let dir = directory.path
        let hlsApplication = hls ? "hls on; hls_path \(dir)/hls; hls_fragment 1s; hls_playlist_length 6s;" : ""
        let http = httpPort.map { httpPort in """
            http {
                access_log \(dir)/access.log;
                log_format clients '"$request" xff="$http_x_forwarded_for" real="$http_x_real_ip"';
                access_log \(dir)/clients.log clients;
                client_body_temp_path tmp/body; proxy_temp_path tmp/proxy; fastcgi_temp_path tmp/fcgi;
                uwsgi_temp_path tmp/uwsgi; scgi_temp_path tmp/scgi;
                types { application/vnd.apple.mpegurl m3u8; video/mp2t ts; }
                server {
                    listen 127.0.0.1:\(httpPort);
                    location /live/ { alias \(dir)/hls/; add_header Cache-Control no-cache; }
                }
            }
            """ } ?? ""
        let config = """
            load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
            daemon off;
            user root;
            master_process off;
            pid nginx.pid;
            error_log stderr info;
            events { worker_connections 1024; }
            rtmp {
                log_format clients '$remote_addr $command $app/$name';
                access_log \(dir)/rtmp-clients.log clients;
                server {
                    listen 127.0.0.1:\(port)\(proxyProtocol ? " proxy_protocol" : "");
                    chunk_size 4096;
                    application live { live on; record off; \(hlsApplication) }
                    \(applications.map { "application \($0) { live on; record off; }" }.joined(separator: "\n            "))
                }
            }
            \(http)
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

    /// Request lines (`GET /live/s-1.ts HTTP/1.1`) from the HTTP access log, oldest first; the
    /// proxy's health checks (user agent `stream-proxy-health-check`) are left out.
    public var httpRequests: [String] { accessLog(healthChecks: false) }

    /// The request lines of the proxy's health checks only.
    public var healthCheckRequests: [String] { accessLog(healthChecks: true) }

    private func accessLog(healthChecks: Bool) -> [String] {
        guard let text = try? String(contentsOf: directory.appendingPathComponent("access.log"), encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            guard line.contains("\"stream-proxy-health-check\"") == healthChecks else { return nil }
            let parts = line.split(separator: "\"", omittingEmptySubsequences: false)
            return parts.count > 1 ? String(parts[1]) : nil
        }
    }

    /// The client address nginx-rtmp logged for each finished RTMP session (`$remote_addr`: the
    /// PROXY protocol's source when the listener takes it), with its command and stream.
    public var rtmpClients: [(address: String, command: String, stream: String)] {
        guard let text = try? String(contentsOf: directory.appendingPathComponent("rtmp-clients.log"), encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: " ").map(String.init)
            return parts.count >= 3 ? (parts[0], parts[1], parts[2]) : nil
        }
    }

    /// The client identity each HTTP request carried (`X-Forwarded-For`, `X-Real-IP`; "-" when
    /// absent), by request line, oldest first.
    public var forwardedClients: [(request: String, forwardedFor: String, realIP: String)] {
        guard let text = try? String(contentsOf: directory.appendingPathComponent("clients.log"), encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: "\"", omittingEmptySubsequences: false).map(String.init)
            // "REQUEST" xff="A" real="B"
            guard parts.count >= 6 else { return nil }
            return (parts[1], parts[3], parts[5])
        }
    }

    /// The nginx process id (part of its backend id: `<server>-nginx-<pid>`).
    public var pid: Int32 { peer.process.processIdentifier }

    /// The registration body for the proxy's system API.
    public func registration(server: String) -> String {
        let http = httpPort.map { #","http":["\#($0)"]"# } ?? ""
        return #"{"ip":"127.0.0.1","server":"\#(server)","service":"nginx","pid":"\#(peer.process.processIdentifier)","rtmp":["\#(port)"]\#(http)}"#
    }

    public func stop() {
        peer.stop(SIGTERM)
    }

    /// Hangs the origin (SIGSTOP): connections are still accepted by the kernel, nothing answers.
    public func hang() { kill(peer.process.processIdentifier, SIGSTOP) }

    /// Undoes `hang()` (SIGCONT).
    public func resume() { kill(peer.process.processIdentifier, SIGCONT) }

    deinit {
        peer.stop(SIGKILL)
        try? FileManager.default.removeItem(at: directory)
    }
}
