import Foundation

/// ffmpeg as a publisher and ffprobe as a player, the way users run them.
public enum MediaTools {
    /// Publishes `seconds` of a synthetic H.264 + AAC stream (25 fps, a keyframe each second) in real time.
    public static func publish(_ url: String, seconds: Int, realTime: Bool = true) throws -> PeerProcess {
        try PeerProcess("ffmpeg", [
            "-hide_banner", "-nostdin", "-loglevel", "error",
        ] + (realTime ? ["-re"] : []) + [
            "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=44100",
            "-t", String(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25",
            "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k", "-f", "flv", url,
        ])
    }

    /// Reads a stream and lists its video packets' presentation timestamps (in stream time base units).
    /// Ends `idleTimeout` after data stops (nginx keeps players open after the publisher leaves).
    public static func play(_ url: String, idleTimeout: Duration = .seconds(3)) throws -> PeerProcess {
        let micros = Int(idleTimeout.components.seconds) * 1_000_000
        return try PeerProcess("ffprobe", [
            "-v", "error", "-rw_timeout", String(micros), "-select_streams", "v:0",
            "-show_entries", "packet=pts", "-of", "csv=p=0", url,
        ])
    }

    /// The timestamps a `play` process printed.
    public static func timestamps(_ output: String) -> [Int] {
        // MPEG-TS packets carry side data: ffprobe then prints `pts,` (an empty second field).
        output.split(separator: "\n").compactMap { line in
            line.split(separator: ",", omittingEmptySubsequences: false).first.flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        }
    }
}
