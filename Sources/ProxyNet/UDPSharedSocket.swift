import NIOCore
import NIOPosix

#if os(Linux)
import Glibc

/// A UDP socket shared by a NIO datagram channel and a UDPFastPath: made here (bound or
/// connected), given to NIO (which does not read it: autoRead off) and duplicated for the fast
/// path's thread, which does. Both descriptors name one socket; each owner closes its own.
enum UDPSharedSocket {
    /// A non-blocking UDP socket of `address`'s family, bound to it (no SO_REUSEADDR: a second
    /// socket on the port must fail, as with NIO's bind).
    static func bound(to address: SocketAddress) throws -> CInt {
        let fd = try make(family: address.protocol.rawValue)
        let r = address.withSockAddr { Glibc.bind(fd, $0, socklen_t($1)) }
        guard r == 0 else {
            let e = errno
            closeSocket(fd)
            throw IOError(errnoCode: e, reason: "bind(\(address))")
        }
        return fd
    }

    /// A non-blocking UDP socket for talking to `address` (NIO connects it).
    static func unconnected(for address: SocketAddress) throws -> CInt {
        try make(family: address.protocol.rawValue)
    }

    /// A socket made by `open` and a duplicate of it (for the fast path); the socket is closed
    /// again when the duplicate cannot be made.
    static func withDuplicate(_ open: () throws -> CInt) throws -> (fd: CInt, duplicate: CInt) {
        let fd = try open()
        do {
            return (fd, try duplicate(fd))
        } catch {
            closeSocket(fd)
            throw error
        }
    }

    /// A second descriptor of `fd` (close-on-exec).
    static func duplicate(_ fd: CInt) throws -> CInt {
        let d = fcntl(fd, F_DUPFD_CLOEXEC, 0)
        guard d >= 0 else { throw IOError(errnoCode: errno, reason: "fcntl(F_DUPFD_CLOEXEC)") }
        return d
    }

    private static func make(family: CInt) throws -> CInt {
        let fd = socket(family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw IOError(errnoCode: errno, reason: "socket") }
        return fd
    }
}
#endif
