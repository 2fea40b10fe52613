import Foundation

/// ffmpeg serving one live stream over HTTP to exactly one client (`-listen 1`): it starts
/// encoding a synthetic stream (25 fps, a keyframe each second) when the client connects, sends
/// it in real time with chunked transfer encoding, and exits when `seconds` are over (status 0)
/// or when the client goes away (status 1). Two origins started alike send the same frames with
/// the same timestamps, so one can be read directly and the other through the proxy.
public final class FFmpegHTTPOrigin: Sendable {
    public enum Format: String, Sendable {
        case flv
        case ts = "mpegts"
    }

    public let port: Int
    public let path: String
    public let process: PeerProcess

    public static func start(_ format: Format, seconds: Int, path: String = "/live/origin") async throws -> FFmpegHTTPOrigin {
        let origin = try FFmpegHTTPOrigin(format, seconds: seconds, path: path)
        try await Wait.until("ffmpeg HTTP origin on port \(origin.port)", timeout: .seconds(30)) { () throws -> Bool? in
            if hasListener(origin.port) { return true }
            if !origin.process.isRunning { throw TestFailure("ffmpeg exited:\n\(origin.process.output)") }
            return nil
        }
        return origin
    }

    private init(_ format: Format, seconds: Int, path: String) throws {
        port = try FreePort.tcp()
        self.path = path + (format == .flv ? ".flv" : ".ts")
        process = try PeerProcess("ffmpeg", [
            "-hide_banner", "-nostdin", "-loglevel", "error", "-re",
            "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=44100",
            "-t", String(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25",
            "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k", "-f", format.rawValue,
            "-listen", "1", "http://127.0.0.1:\(port)\(self.path)",
        ])
    }

    /// The registration body that makes this origin a backend with an http endpoint.
    public func registration(server: String) -> String {
        #"{"ip":"127.0.0.1","server":"\#(server)","service":"ffmpeg","pid":"\#(process.process.processIdentifier)","http":["\#(port)"]}"#
    }

    deinit { process.stop(SIGKILL) }
}
