import Foundation

/// Tests/Peers/live_flv_origin.py: a live HTTP-FLV origin on a free port of 127.0.0.1 that serves
/// every player of one path from one encode (like an SRS origin), and counts its connections.
public final class LiveFLVOrigin: Sendable {
    public struct Stats: Sendable {
        /// TCP connections accepted on stream paths, in all.
        public var connections: Int
        /// Player responses open now.
        public var active: Int
        /// Sources (ffmpeg encodes) started, in all.
        public var sources: Int
    }

    public let port: Int
    public let process: PeerProcess

    /// `seconds`: how long each source lasts (0: until stopped); `gopCache`: new players get the
    /// current GOP (SRS's gop_cache on) instead of waiting for the next keyframe.
    public static func start(seconds: Int = 0, gopCache: Bool = false, bitrate: String = "500k", gop: Int = 25) async throws -> LiveFLVOrigin {
        let port = try FreePort.tcp()
        let script = PackagePaths.root.appendingPathComponent("Tests/Peers/live_flv_origin.py").path
        let process = try PeerProcess(
            "python3",
            [script, "--port", String(port), "--seconds", String(seconds), "--size", "320x240", "--bitrate", bitrate, "--gop", String(gop)]
                + (gopCache ? ["--gop-cache"] : []))
        try await Wait.until("live_flv_origin's ready line", timeout: .seconds(20)) { () throws -> Bool? in
            if process.output.contains("live_flv_origin listening on") { return true }
            if !process.isRunning { throw TestFailure("live_flv_origin.py exited:\n\(process.output)") }
            return nil
        }
        return LiveFLVOrigin(port: port, process: process)
    }

    private init(port: Int, process: PeerProcess) {
        self.port = port
        self.process = process
    }

    public func stats() async throws -> Stats {
        let answer = try await HTTPTestClient.get(URL(string: "http://127.0.0.1:\(port)/stats")!)
        let json = answer.json
        return Stats(connections: json["connections"] as? Int ?? -1, active: json["active"] as? Int ?? -1, sources: json["sources"] as? Int ?? -1)
    }

    /// A registration body for the proxy: this origin's http port.
    public func registration(server: String) -> String {
        #"{"ip":"127.0.0.1","server":"\#(server)","service":"live-flv","pid":"\#(process.process.processIdentifier)","http":["\#(port)"]}"#
    }

    deinit { process.stop(SIGKILL) }
}
