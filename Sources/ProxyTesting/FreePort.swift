import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Ports for peers that cannot bind port 0 and report it (nginx): ask the kernel for a free
/// port, release it, hand it to the peer. Each port is handed out once per test process.
public enum FreePort {
    private static let handedOut = LockedSet()

    public static func tcp() throws -> Int {
        for _ in 0..<50 {
            let port = try probe()
            if handedOut.insert(port) { return port }
        }
        throw TestFailure("no free TCP port found")
    }

    /// A free UDP port (for peers such as srt-live-transmit that take a port on the command line).
    public static func udp() throws -> Int {
        for _ in 0..<50 {
            let port = try probe(type: SOCK_DGRAM)
            if handedOut.insert(port) { return port }
        }
        throw TestFailure("no free UDP port found")
    }

    private static func probe(type: __socket_type = SOCK_STREAM) throws -> Int {
        let (fd, port) = try boundSocket(type: type)
        close(fd)
        return port
    }

    /// A socket bound to 127.0.0.1 on a port the kernel picked, and that port; the caller closes it.
    static func boundSocket(type: __socket_type = SOCK_STREAM) throws -> (fd: CInt, port: Int) {
        let fd = socket(AF_INET, Int32(type.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket() failed") }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        guard bound == 0 else {
            close(fd)
            throw TestFailure("bind() failed")
        }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return (fd, Int(UInt16(bigEndian: addr.sin_port)))
    }

    final class LockedSet: @unchecked Sendable {
        private var ports = Set<Int>()
        private let lock = NSLock()
        func insert(_ port: Int) -> Bool { lock.withLock { ports.insert(port).inserted } }
    }
}

/// Whether something accepts TCP connections on 127.0.0.1:`port` right now.
public func isListening(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = UInt16(port).bigEndian
    return withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    } == 0
}

/// Whether a TCP socket listens on 127.0.0.1 or any address at `port`, read from /proc/net/tcp
/// without connecting (for servers that accept exactly one connection, like `ffmpeg -listen 1`).
public func hasListener(_ port: Int) -> Bool {
    guard let table = readProcFile("/proc/net/tcp") else { return false }
    let hexPort = String(format: ":%04X", port)
    return table.split(separator: "\n").dropFirst().contains { line in
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        return fields.count > 3 && fields[1].hasSuffix(hexPort) && fields[3] == "0A"
    }
}

/// The whole text of a /proc file, read until end of file: such files report a size of 0, and a
/// read sized by it can stop after the first page (a listener's line past it would not be seen once
/// the machine has a few hundred sockets).
public func readProcFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var data = [UInt8]()
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 { return nil }
        if n == 0 { break }
        data.append(contentsOf: chunk[0..<n])
    }
    return String(decoding: data, as: UTF8.self)
}
