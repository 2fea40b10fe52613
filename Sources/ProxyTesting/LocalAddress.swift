import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// This machine's addresses, for tests that must reach the proxy from somewhere other than loopback.
public enum LocalAddress {
    /// The first IPv4 address of an interface that is up and not loopback. A connection from this
    /// machine to that address comes from it, so the proxy sees a non-loopback client.
    public static func nonLoopbackIPv4() throws -> String {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { throw TestFailure("getifaddrs failed: errno \(errno)") }
        defer { freeifaddrs(list) }
        for entry in sequence(first: first, next: { $0.pointee.ifa_next }) {
            let flags = Int32(entry.pointee.ifa_flags)
            guard let address = entry.pointee.ifa_addr, address.pointee.sa_family == sa_family_t(AF_INET),
                  flags & Int32(IFF_UP) != 0, flags & Int32(IFF_LOOPBACK) == 0 else { continue }
            var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
            var sin = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee }
            guard inet_ntop(AF_INET, &sin.sin_addr, &text, socklen_t(text.count)) != nil else { continue }
            return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        throw TestFailure("this machine has no non-loopback IPv4 address (the access tests need one to connect from)")
    }
}
