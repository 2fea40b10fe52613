import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A plain blocking TCP client socket, for tests that misbehave on purpose (random bytes,
/// stalled handshakes, a thousand idle connections).
///
/// Every call that can wait (connect, reads) runs on a thread of its own (OffThread) and is awaited.
public final class RawSocket: @unchecked Sendable {
    public let fd: Int32

    /// A connection to 127.0.0.1:`port`, from `from` (another loopback address such as
    /// 127.0.0.2, for tests that are several clients) when given.
    public init(port: Int, from: String? = nil) async throws {
        fd = try await OffThread.run { try Self.connect(port: port, from: from) }
    }

    private init(fd: Int32) {
        self.fd = fd
    }

    /// `count` connections to 127.0.0.1:`port`, made one after another on one thread (fast: a
    /// flood), the i-th from `from(i)`; each gets `first(i)` sent at once when that is not empty.
    public static func open(
        count: Int, port: Int, from: @escaping @Sendable (Int) -> String?, first: @escaping @Sendable (Int) -> [UInt8] = { _ in [] }
    ) async throws -> [RawSocket] {
        try await OffThread.run {
            var sockets: [RawSocket] = []
            sockets.reserveCapacity(count)
            for i in 0..<count {
                let socket = RawSocket(fd: try connect(port: port, from: from(i)))
                let bytes = first(i)
                if !bytes.isEmpty { socket.send(bytes) }
                sockets.append(socket)
            }
            return sockets
        }
    }

    private static func connect(port: Int, from: String?) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket() failed: errno \(errno)") }
        if let from {
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            local.sin_addr.s_addr = inet_addr(from)
            let rc = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard rc == 0 else {
                let error = errno
                close(fd)
                throw TestFailure("bind to \(from) failed: errno \(error)")
            }
        }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            let error = errno
            close(fd)
            throw TestFailure("connect to 127.0.0.1:\(port) failed: errno \(error)")
        }
        return fd
    }

    /// Ends the connection both ways (the descriptor is closed when the object goes).
    public func disconnect() {
        _ = Glibc.shutdown(fd, Int32(SHUT_RDWR))
    }

    public func send(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// True when the peer closed the connection (read returns 0 or reset) within `timeout`;
    /// bytes the peer sends meanwhile are skipped.
    public func waitForClose(timeout: Duration) async -> Bool {
        await OffThread.run { self.blockingWaitForClose(timeout: timeout) }
    }

    private func blockingWaitForClose(timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now + timeout
        var buffer = [UInt8](repeating: 0, count: 4096)
        while ContinuousClock.now < deadline {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let left = deadline - ContinuousClock.now
            let ms = Int32(max(1, min(1000, left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000)))
            guard poll(&pfd, 1, ms) > 0 else { continue }
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { return true }
        }
        return false
    }

    /// Everything the peer sends until it closes the connection, or until `timeout` (then nil).
    public func readUntilClose(timeout: Duration) async -> String? {
        let (closed, received) = await OffThread.run { self.receive(until: nil, timeout: timeout) }
        return closed ? received : nil
    }

    /// Bytes received until `text` has been seen (true) or `timeout` passes or the peer closes (false).
    public func read(until text: String, timeout: Duration) async -> (found: Bool, received: String) {
        let (found, received) = await OffThread.run { self.receive(until: text, timeout: timeout) }
        return (found, received)
    }

    /// Reads until `text` arrives (true), or with no text until the peer closes (true); false at `timeout`.
    private func receive(until text: String?, timeout: Duration) -> (Bool, String) {
        let deadline = ContinuousClock.now + timeout
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        while ContinuousClock.now < deadline {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 100) > 0 else { continue }
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { return (text == nil, String(decoding: received, as: UTF8.self)) }
            received += buffer[0..<n]
            if let text, String(decoding: received, as: UTF8.self).contains(text) { return (true, String(decoding: received, as: UTF8.self)) }
        }
        return (false, String(decoding: received, as: UTF8.self))
    }

    deinit { close(fd) }
}

/// Process facts read from /proc.
public enum ProcStat {
    /// Resident memory of `pid` in KiB (VmRSS).
    public static func rssKiB(_ pid: Int32) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1])
        }
        return nil
    }

    /// Number of open file descriptors of `pid`.
    public static func openFiles(_ pid: Int32) -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? 0
    }

    /// Raises this process's open-file limit (children inherit it).
    public static func raiseFileLimit(to wanted: UInt64 = 8192) {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        limit.rlim_cur = min(max(limit.rlim_cur, rlim_t(wanted)), limit.rlim_max)
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
}
