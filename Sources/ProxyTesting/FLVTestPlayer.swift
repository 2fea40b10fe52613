import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// An HTTP-FLV player that checks what it receives: it sends one GET, reads the response head,
/// then walks the FLV tags on a thread of its own, recording the first video tags (sequence
/// header or not, keyframe or not), the count of tags, the bytes and how the body ended. It can
/// stall (stop reading) to act as a slow player.
public final class FLVTestPlayer: Sendable {
    public struct Report: Sendable {
        public var status = 0
        public var head = ""
        /// Bytes of body received.
        public var bytes = 0
        public var videoTags = 0
        public var audioTags = 0
        public var headerSeen = false
        /// Whether the first video tag after the sequence headers was a keyframe.
        public var firstVideoIsKeyframe: Bool?
        public var sawVideoSequenceHeader = false
        /// Time from connect to the first video keyframe tag.
        public var firstKeyframeAfter: Duration?
        /// The body ended (the proxy closed it) and how: nil while it goes on.
        public var ended: String?
        /// FLV timestamps of the last video tag.
        public var lastVideoTimestamp: UInt32 = 0
        /// Something was not FLV.
        public var error: String?
    }

    private let state = Mutex(Report())
    private let stalled = Atomic<Bool>(false)
    private let stopping = Atomic<Bool>(false)
    private let fd: Int32

    /// Connects to 127.0.0.1:`port` and requests `path`; `receiveBuffer` sets SO_RCVBUF (small, for a slow player).
    public init(port: Int, path: String, receiveBuffer: Int? = nil) async throws {
        let socket = try await RawSocket(port: port)
        let fd = dup(socket.fd)
        self.fd = fd
        if var size = receiveBuffer.map(Int32.init) {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        let request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: FLVTestPlayer\r\n\r\n"
        _ = request.withCString { Glibc.send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        let started = ContinuousClock.now
        let thread = Thread { [self] in run(started: started) }
        thread.start()
    }

    public var report: Report { state.withLock { $0 } }

    /// Stops reading (the socket's buffers fill; the proxy sees a slow player) or reads again.
    public func stall(_ on: Bool) { stalled.store(on, ordering: .relaxed) }

    public func stop() {
        stopping.store(true, ordering: .relaxed)
        _ = shutdown(fd, Int32(SHUT_RDWR))
    }

    deinit {
        stop()
        close(fd)
    }

    private func run(started: ContinuousClock.Instant) {
        var buffer = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 65_536)
        var headDone = false
        var offset = 0  // parse position in buffer
        var fileHeader = false
        while !stopping.load(ordering: .relaxed) {
            if stalled.load(ordering: .relaxed) {
                usleep(20_000)
                continue
            }
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 {
                state.withLock { $0.ended = n == 0 ? "closed" : "error \(errno)" }
                return
            }
            buffer.append(contentsOf: chunk[0..<n])
            if headDone {
                state.withLock { $0.bytes += n }
            } else {
                guard let end = Self.find([13, 10, 13, 10], in: buffer) else { continue }
                let head = String(decoding: buffer[0..<end], as: UTF8.self)
                let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
                state.withLock {
                    $0.head = head
                    $0.status = status
                }
                buffer.removeFirst(end + 4)
                headDone = true
                let body = buffer.count
                state.withLock { $0.bytes += body }
                if head.lowercased().contains("transfer-encoding: chunked") {
                    state.withLock { $0.error = "chunked body (this player reads raw FLV bodies only)" }
                }
            }
            if !fileHeader {
                guard buffer.count >= 13 else { continue }
                guard buffer[0] == 0x46, buffer[1] == 0x4c, buffer[2] == 0x56 else {
                    state.withLock { $0.error = "no FLV header" }
                    return
                }
                fileHeader = true
                offset = 13
                state.withLock { $0.headerSeen = true }
            }
            while buffer.count - offset >= 11 {
                let type = buffer[offset] & 0x1f
                let size = Int(buffer[offset + 1]) << 16 | Int(buffer[offset + 2]) << 8 | Int(buffer[offset + 3])
                guard buffer.count - offset >= 11 + size + 4 else { break }
                let ts = UInt32(buffer[offset + 7]) << 24 | UInt32(buffer[offset + 4]) << 16 | UInt32(buffer[offset + 5]) << 8 | UInt32(buffer[offset + 6])
                let b0 = size > 0 ? buffer[offset + 11] : 0
                let b1 = size > 1 ? buffer[offset + 12] : 0xff
                let elapsed = ContinuousClock.now - started
                state.withLock { r in
                    switch type {
                    case 9:
                        r.videoTags += 1
                        r.lastVideoTimestamp = ts
                        let sequence = (b0 & 0x0f == 7 || b0 & 0x0f == 12) && b1 == 0
                        let key = b0 >> 4 == 1 && !sequence
                        if sequence { r.sawVideoSequenceHeader = true }
                        if !sequence, r.firstVideoIsKeyframe == nil { r.firstVideoIsKeyframe = key }
                        if key, r.firstKeyframeAfter == nil { r.firstKeyframeAfter = elapsed }
                    case 8: r.audioTags += 1
                    case 18: break
                    default: r.error = r.error ?? "unknown tag type \(type) at byte \(offset)"
                    }
                }
                offset += 11 + size + 4
            }
            if offset > 1 << 20 {
                buffer.removeFirst(offset)
                offset = 0
            }
        }
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for i in 0...(haystack.count - needle.count) where haystack[i] == needle[0] && Array(haystack[i..<(i + needle.count)]) == needle {
            return i
        }
        return nil
    }
}
