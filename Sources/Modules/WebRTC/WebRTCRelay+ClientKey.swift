#if canImport(Glibc)
import Glibc
#endif
import NIOCore

extension WebRTCRelay {
    /// A client address as plain integers (IPv4: address and port in `low`; IPv6: the address in
    /// `high`/`low` and the port and scope in `extra`): hashed and compared without going through
    /// SocketAddress's boxed storage.
    struct ClientKey: Hashable {
        var high: UInt64
        var low: UInt64
        var extra: UInt64

        init(_ address: SocketAddress) {
            switch address {
            case .v4(let a):
                high = 0
                low = UInt64(a.address.sin_addr.s_addr) << 16 | UInt64(a.address.sin_port)
                extra = 4
            case .v6(let a):
                var sa = a.address
                let words = withUnsafeBytes(of: &sa.sin6_addr) { ($0.loadUnaligned(fromByteOffset: 0, as: UInt64.self), $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self)) }
                high = words.0
                low = words.1
                extra = 6 | UInt64(sa.sin6_port) << 8 | UInt64(sa.sin6_scope_id) << 24
            case .unixDomainSocket:
                high = 0
                low = 0
                extra = 0
            }
        }
    }
}
