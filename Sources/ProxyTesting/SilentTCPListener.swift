#if canImport(Glibc)
import Glibc
#endif

/// A TCP listener on 127.0.0.1 that never accepts: the kernel completes a client's connect, and
/// nobody ever reads what it sends (a server that hangs, for timeout tests).
public final class SilentTCPListener: Sendable {
    public let port: Int
    private let fd: CInt

    public init() throws {
        (fd, port) = try FreePort.boundSocket()
        guard listen(fd, 16) == 0 else {
            close(fd)
            throw TestFailure("listen() failed")
        }
    }

    deinit { close(fd) }
}
