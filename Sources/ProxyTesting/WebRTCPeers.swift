import Foundation

/// The aiortc WebRTC peers in Tests/Peers/webrtc, run by the peers' venv Python
/// (`PackagePaths.peerPython`: aiortc and aiohttp as Tests/Peers/requirements.txt pins them):
/// a WHIP/WHEP origin and a WHIP publisher / WHEP player.
public enum WebRTCPeers {
    public static var directory: URL { PackagePaths.root.appendingPathComponent("Tests/Peers/webrtc") }

    /// The aiortc origin (`whip_server.py`) on a free port of 127.0.0.1.
    public final class Origin: Sendable {
        public let port: Int
        public let process: PeerProcess

        /// `servePages`: also serve Tests/Peers/webrtc under /static/ (the browser pages; see `page`).
        public static func start(servePages: Bool = false) async throws -> Origin {
            let pages = servePages ? ["--static", directory.path] : []
            let process = try PeerProcess(try PackagePaths.peerPython, [directory.appendingPathComponent("whip_server.py").path, "--port", "0"] + pages)
            let port = try await Wait.until("whip_server's ready line", timeout: .seconds(20)) { () throws -> Int? in
                if let range = process.output.range(of: #"whip_server listening on http://127\.0\.0\.1:(\d+)"#, options: .regularExpression) {
                    return Int(process.output[range].split(separator: ":").last ?? "")
                }
                if !process.isRunning { throw TestFailure("whip_server.py exited:\n\(process.output)") }
                return nil
            }
            return Origin(port: port, process: process)
        }

        private init(port: Int, process: PeerProcess) {
            self.port = port
            self.process = process
        }

        /// Registration as a backend: `api` is its HTTP port; `rtc` a placeholder UDP endpoint
        /// (aiortc answers a port per session; the proxy learns it from each answer).
        public func registration(server: String) -> String {
            #"{"ip":"127.0.0.1","server":"\#(server)","service":"aiortc","pid":"\#(process.process.processIdentifier)","api":["\#(port)"],"rtc":["udp://127.0.0.1:9"]}"#
        }

        /// The URL of a browser page of Tests/Peers/webrtc (whip_publish.html, whep_play.html) on
        /// this origin (started with `servePages`), its query built from `parameters`.
        public func page(_ name: String, _ parameters: KeyValuePairs<String, String>) -> String {
            // Values percent-encoded whole: a WHIP URL's "?", "&", "=" and "/" must not end up in the page's query.
            let query = parameters.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }
            return "http://127.0.0.1:\(port)/static/\(name)?" + query.joined(separator: "&")
        }

        /// `GET /stats`: frames received per stream.
        public func stats() async throws -> [String: [String: Any]] {
            try await allStats()["streams"] as? [String: [String: Any]] ?? [:]
        }

        /// `GET /stats` as a whole: `streams`, `peers`, `offers` (offers received), `patches`.
        public func allStats() async throws -> [String: Any] {
            try await HTTPTestClient.get(URL(string: "http://127.0.0.1:\(port)/stats")!).json
        }

        /// How many offers (WHIP, WHEP, SRS JSON) reached the origin.
        public func offers() async throws -> Int { try await allStats()["offers"] as? Int ?? -1 }

        /// Every PATCH the origin received: `path`, `content_type`, `body`, and the `status` it answered.
        public func patches() async throws -> [[String: Any]] { try await allStats()["patches"] as? [[String: Any]] ?? [] }
        /// Every request the origin received (method, path with query, Authorization), the last 200.
        public func requests() async throws -> [[String: Any]] { try await allStats()["requests"] as? [[String: Any]] ?? [] }

        public func videoFrames(_ stream: String) async throws -> Int {
            try await stats()[stream]?["video_frames"] as? Int ?? 0
        }

        deinit { process.stop(SIGKILL) }
    }

    /// `whip_client.py publish|play URL --seconds N --audio [extra...]`; its result is one JSON line.
    public static func client(_ mode: String, _ url: String, seconds: Double, extra: [String] = []) throws -> PeerProcess {
        try PeerProcess(try PackagePaths.peerPython, [directory.appendingPathComponent("whip_client.py").path, mode, url, "--seconds", String(seconds), "--audio"] + extra)
    }

    /// An offer from the aiortc client (a publisher's, with audio), for tests that send it by hand.
    public static func offer() async throws -> String {
        let client = try PeerProcess(try PackagePaths.peerPython, [directory.appendingPathComponent("whip_client.py").path, "publish", "http://unused/", "--audio", "--offer-only"])
        _ = try await client.wait(timeout: .seconds(30))
        guard let sdp = result(client)["offer"] as? String else { throw TestFailure("no offer from whip_client.py: \(client.output)") }
        return sdp
    }

    /// The client's JSON result line.
    public static func result(_ client: PeerProcess) -> [String: Any] {
        for line in client.output.split(separator: "\n").reversed() where line.hasPrefix("{") {
            if let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] { return object }
        }
        return [:]
    }
}
