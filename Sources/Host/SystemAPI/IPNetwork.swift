import NIOCore

/// An IP network in CIDR form (`10.0.0.0/8`, `192.0.2.7`, `fd00::/8`, `::1`), as `system_api.allow`
/// lists the networks origins may register from.
struct IPNetwork: Sendable, Equatable, CustomStringConvertible {
    /// The network's address bytes (4 or 16) and prefix length.
    let bytes: [UInt8]
    let prefix: Int

    /// nil when `text` is not an address with an optional `/prefix` in range.
    init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = Self.bytes(of: String(parts[0])) else { return nil }
        let width = address.count * 8
        var prefix = width
        if parts.count == 2 {
            guard let n = Int(parts[1]), (0...width).contains(n), parts[1].utf8.allSatisfy({ (48...57).contains($0) }) else { return nil }
            prefix = n
        }
        // Host bits are cleared: 10.1.2.3/8 means 10.0.0.0/8.
        self.bytes = Self.masked(address, prefix)
        self.prefix = prefix
    }

    /// Whether `address` (a peer's address) is in this network; an IPv4-mapped IPv6 peer
    /// (`::ffff:a.b.c.d`) is compared as IPv4.
    func contains(_ address: SocketAddress) -> Bool {
        guard let peer = Self.bytes(of: address) else { return false }
        return peer.count == bytes.count && Self.masked(peer, prefix) == bytes
    }

    var description: String {
        let address = bytes.count == 4 ? bytes.map(String.init).joined(separator: ".") : (try? SocketAddress(packedIPAddress: ByteBuffer(bytes: bytes), port: 0).ipAddress) ?? "?"
        return "\(address)/\(prefix)"
    }

    static func bytes(of address: SocketAddress) -> [UInt8]? {
        switch address {
        case .v4(let a): return withUnsafeBytes(of: a.address.sin_addr.s_addr) { Array($0) }
        case .v6(let a):
            let raw = withUnsafeBytes(of: a.address.sin6_addr) { Array($0) }
            if raw.prefix(10).allSatisfy({ $0 == 0 }) && raw[10] == 0xFF && raw[11] == 0xFF { return Array(raw.suffix(4)) }
            return raw
        case .unixDomainSocket: return nil
        }
    }

    private static func bytes(of text: String) -> [UInt8]? {
        guard let address = try? SocketAddress(ipAddress: text, port: 0) else { return nil }
        return bytes(of: address)
    }

    private static func masked(_ bytes: [UInt8], _ prefix: Int) -> [UInt8] {
        bytes.enumerated().map { i, b in
            let bits = max(0, min(8, prefix - i * 8))
            return bits == 8 ? b : b & ~UInt8(truncatingIfNeeded: 0xFF >> bits)
        }
    }

    /// Whether `address` is a loopback address (127.0.0.0/8, ::1, or IPv4-mapped loopback).
    static func isLoopback(_ address: SocketAddress) -> Bool {
        guard let b = bytes(of: address) else { return false }
        return b.count == 4 ? b[0] == 127 : b == [UInt8](repeating: 0, count: 15) + [1]
    }
}
