import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// srt-live-transmit (Debian's srt-tools) as an SRT origin: a listener on a free UDP port that
/// writes the MPEG-TS it receives to `received`, or (with `playPort`) a second listener that
/// serves players what the first one receives. `-a:no`: it exits when its source leaves.
public final class SRTLiveTransmit: Sendable {
    public let port: Int
    public let playPort: Int?
    public let directory: URL
    public let received: URL
    private let peer: PeerProcess

    /// Starts the origin; ready at once (it binds before reading), checked through /proc/net/udp.
    public static func start(passphrase: String? = nil, servePlayers: Bool = false) async throws -> SRTLiveTransmit {
        let origin = try SRTLiveTransmit(passphrase: passphrase, servePlayers: servePlayers)
        try await Wait.until("srt-live-transmit on udp \(origin.port)", timeout: .seconds(10)) { () throws -> Bool? in
            if hasUDPSocket(origin.port) && (origin.playPort.map(hasUDPSocket) ?? true) { return true }
            if !origin.peer.isRunning { throw TestFailure("srt-live-transmit exited:\n\(origin.peer.output)") }
            return nil
        }
        return origin
    }

    private init(passphrase: String?, servePlayers: Bool) throws {
        port = try FreePort.udp()
        playPort = servePlayers ? try FreePort.udp() : nil
        directory = try PackagePaths.temporaryDirectory("srt-origin")
        received = directory.appendingPathComponent("received.ts")
        let secret = passphrase.map { "&passphrase=\($0)" } ?? ""
        let source = "srt://127.0.0.1:\(port)?mode=listener&latency=200\(secret)"
        let target = playPort.map { "srt://127.0.0.1:\($0)?mode=listener&latency=200\(secret)" } ?? "file://con"
        // file://con is stdout: a shell redirect keeps it apart from the log on stderr.
        peer = try PeerProcess("sh", ["-c", "exec srt-live-transmit -a:no '\(source)' '\(target)' > '\(received.path)'"])
    }

    public var log: String { peer.output }
    public var isRunning: Bool { peer.isRunning }

    /// The registration body for the proxy's system API: the srt endpoint is the play listener
    /// when there is one (players reach the origin through the proxy), else the publish one.
    public func registration(server: String) -> String {
        #"{"ip":"127.0.0.1","server":"\#(server)","service":"slt","pid":"\#(peer.process.processIdentifier)","srt":["\#(playPort ?? port)"]}"#
    }

    public func wait(timeout: Duration) async throws { try await peer.wait(timeout: timeout) }

    public func stop() { peer.stop(SIGTERM) }

    deinit {
        peer.stop(SIGKILL)
        try? FileManager.default.removeItem(at: directory)
    }
}

/// ffmpeg as an SRT caller, and the fixed MPEG-TS input the SRT tests send.
public enum SRTTools {
    /// A deterministic 4 s H.264 TS file (made once per test process).
    public static func fixture() async throws -> URL {
        if let url = made.withLock({ $0 }) { return url }
        let url = try PackagePaths.temporaryDirectory("srt-fixture").appendingPathComponent("input.ts")
        let ffmpeg = try PeerProcess("ffmpeg", [
            "-hide_banner", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "4",
            "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p", "-f", "mpegts", url.path,
        ])
        guard try await ffmpeg.wait(timeout: .seconds(30)) == 0 else { throw TestFailure("ffmpeg fixture: \(ffmpeg.output)") }
        made.withLock { $0 = url }
        return url
    }
    private static let made = LockedValue<URL?>(nil)

    /// The SRT URL ffmpeg dials: `streamid` literally, latency in microseconds.
    public static func url(port: Int, streamID: String, passphrase: String? = nil) -> String {
        let secret = passphrase.map { "&passphrase=\($0)&pbkeylen=16" } ?? ""
        return "srt://127.0.0.1:\(port)?streamid=\(streamID)&latency=200000&pkt_size=1316\(secret)"
    }

    /// Sends `file` in real time, unchanged (`-c copy`).
    public static func publish(_ file: URL, to url: String) throws -> PeerProcess {
        try PeerProcess("ffmpeg", ["-hide_banner", "-nostdin", "-loglevel", "error", "-re", "-i", file.path, "-c", "copy", "-f", "mpegts", url])
    }

    /// Reads `url` and writes what arrives to `file` (remuxed without re-encoding).
    public static func play(_ url: String, to file: URL) throws -> PeerProcess {
        try PeerProcess("ffmpeg", [
            "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", url, "-map", "0", "-c", "copy", "-f", "mpegts", file.path,
        ])
    }

    /// MPEG-TS packets of `data` and continuity-counter gaps (per PID, payload packets only).
    public static func continuity(_ data: Data) -> (packets: Int, gaps: Int) {
        var last: [Int: UInt8] = [:]
        var gaps = 0
        let bytes = [UInt8](data)
        var i = 0
        while i + 188 <= bytes.count {
            guard bytes[i] == 0x47 else { gaps += 1; i += 188; continue }
            let pid = Int(bytes[i + 1] & 0x1F) << 8 | Int(bytes[i + 2])
            let hasPayload = bytes[i + 3] & 0x10 != 0
            let cc = bytes[i + 3] & 0x0F
            if hasPayload, pid != 0x1FFF {
                if let previous = last[pid], (previous + 1) & 0x0F != cc { gaps += 1 }
                last[pid] = cc
            }
            i += 188
        }
        return (bytes.count / 188, gaps)
    }
}

final class LockedValue<T>: @unchecked Sendable {
    private var value: T
    private let lock = NSLock()
    init(_ value: T) { self.value = value }
    func withLock<R>(_ body: (inout T) -> R) -> R { lock.withLock { body(&value) } }
}

/// Whether a UDP socket is bound to `port` (127.0.0.1 or any address), from /proc/net/udp.
public func hasUDPSocket(_ port: Int) -> Bool {
    guard let table = readProcFile("/proc/net/udp") else { return false }
    let hexPort = String(format: ":%04X", port)
    return table.split(separator: "\n").dropFirst().contains { line in
        line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first?.hasSuffix(hexPort) == true
    }
}

/// A plain UDP socket, for tests that send crafted datagrams.
public final class RawUDPSocket: @unchecked Sendable {
    public let fd: Int32
    private var peer = sockaddr_in()

    /// A socket that sends to 127.0.0.1:`port`, from `from` (a local address such as 127.0.0.2,
    /// with a free port) when given, else from an address the kernel picks at the first send.
    public init(port: Int, from: String? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket() failed: errno \(errno)") }
        peer.sin_family = sa_family_t(AF_INET)
        peer.sin_addr.s_addr = inet_addr("127.0.0.1")
        peer.sin_port = UInt16(port).bigEndian
        if let from {
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            local.sin_addr.s_addr = inet_addr(from)
            let rc = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard rc == 0 else {
                close(fd)
                throw TestFailure("bind to \(from) failed: errno \(errno)")
            }
        }
    }

    /// The bound local port (0 before the first send of a socket made without `from`).
    public var localPort: Int {
        var local = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: local.sin_port))
    }

    /// The next datagram within `timeout` and its sender (as "ip:port"); later `send`s go to that sender.
    public func receiveAndAnswerSender(timeout: Duration) async -> (bytes: [UInt8], from: String)? {
        await OffThread.run { self.blockingReceiveAndAnswerSender(timeout: timeout) }
    }

    private func blockingReceiveAndAnswerSender(timeout: Duration) -> (bytes: [UInt8], from: String)? {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ms = Int32(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        guard poll(&pfd, 1, max(1, ms)) > 0 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 2048)
        var sender = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let n = withUnsafeMutablePointer(to: &sender) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, &buffer, buffer.count, 0, $0, &length) }
        }
        guard n > 0 else { return nil }
        peer = sender
        return (Array(buffer[0..<n]), "\(String(cString: inet_ntoa(sender.sin_addr))):\(UInt16(bigEndian: sender.sin_port))")
    }

    public func send(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { buf in
            withUnsafePointer(to: &peer) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, buf.baseAddress, buf.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
    }

    /// The next datagram within `timeout`, or nil.
    public func receive(timeout: Duration) async -> [UInt8]? {
        await OffThread.run { self.blockingReceive(timeout: timeout) }
    }

    private func blockingReceive(timeout: Duration) -> [UInt8]? {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ms = Int32(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        guard poll(&pfd, 1, max(1, ms)) > 0 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 2048)
        let n = recv(fd, &buffer, buffer.count, 0)
        return n > 0 ? Array(buffer[0..<n]) : nil
    }

    deinit { close(fd) }
}
