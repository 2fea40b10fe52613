import Logging
import NIOCore
import ProxyNet

/// Why a datagram from a client was dropped (the bad-input cases of the module).
enum SRTDropCause: Int, CaseIterable, CustomStringConvertible {
    /// Shorter than the 16-byte SRT header.
    case tooShort
    /// A handshake whose version is neither 4 (induction) nor 5 (HSv5 conclusion).
    case unknownVersion
    /// A handshake whose fields or extensions do not parse.
    case malformedHandshake
    /// A conclusion whose SYN cookie is not the one this proxy made for that address recently.
    case badCookie
    /// A conclusion without a Stream ID extension (rejected: the proxy cannot route it).
    case noStreamID
    /// A Stream ID over 512 bytes (rejected).
    case streamIDTooLong
    /// A Stream ID that names no stream (rejected).
    case badStreamID
    /// A data or control packet for a socket id no session of that address has.
    case unknownSocketID
    /// A handshake type a caller never sends to a listener (rendezvous, rejection...).
    case unexpectedHandshake
    /// A conclusion over `max_sessions`, or with a socket id another session holds (rejected).
    case sessionLimit
    /// The destination socket could not take more (UDP: the packet is lost, as on a full link).
    case notWritable
    /// A conclusion from an address past `session_rate` new sessions a second (rejected: overload).
    case rateLimited
    /// Longer than the largest datagram the socket takes (cut by the kernel): dropped whole.
    case truncated

    var description: String {
        switch self {
        case .tooShort: "too_short"
        case .unknownVersion: "unknown_version"
        case .malformedHandshake: "malformed_handshake"
        case .badCookie: "bad_cookie"
        case .noStreamID: "no_stream_id"
        case .streamIDTooLong: "stream_id_too_long"
        case .badStreamID: "bad_stream_id"
        case .unknownSocketID: "unknown_socket_id"
        case .unexpectedHandshake: "unexpected_handshake"
        case .sessionLimit: "session_limit"
        case .notWritable: "not_writable"
        case .rateLimited: "rate_limited"
        case .truncated: "truncated"
        }
    }
}

/// One counter per drop cause, and a log line per cause at most every `logInterval` (the first
/// drop of a cause is always logged). Confined to the listener's event loop: no lock.
struct SRTDropCounters {
    private(set) var counts = [UInt64](repeating: 0, count: SRTDropCause.allCases.count)
    private var lastLogged = [NIODeadline?](repeating: nil, count: SRTDropCause.allCases.count)
    private var unlogged = [UInt64](repeating: 0, count: SRTDropCause.allCases.count)
    let logInterval: TimeAmount

    init(logInterval: TimeAmount = .seconds(5)) {
        self.logInterval = logInterval
    }

    subscript(cause: SRTDropCause) -> UInt64 { counts[cause.rawValue] }

    /// `count` drops counted elsewhere (the fast path's), logged like the others.
    mutating func note(_ cause: SRTDropCause, count: UInt64, detail: @autoclosure () -> String, logger: Logger) {
        let i = cause.rawValue
        counts[i] &+= count
        let now = NIODeadline.now()
        if let last = lastLogged[i], now - last < logInterval {
            unlogged[i] &+= count
            return
        }
        lastLogged[i] = now
        logger.warning("dropped datagrams", metadata: [
            "cause": "\(cause)", "detail": "\(detail())", "dropped": "\(count)", "count": "\(counts[i])",
            "not_logged_since_last": "\(unlogged[i])",
        ])
        unlogged[i] = 0
    }

    mutating func note(_ cause: SRTDropCause, from client: SocketAddress, detail: @autoclosure () -> String, logger: Logger) {
        let i = cause.rawValue
        counts[i] &+= 1
        let now = NIODeadline.now()
        if let last = lastLogged[i], now - last < logInterval {
            unlogged[i] &+= 1
            return
        }
        lastLogged[i] = now
        logger.warning("dropped a datagram", metadata: [
            "cause": "\(cause)", "client": "\(client.endpointDescription)", "detail": "\(detail())",
            "count": "\(counts[i])", "not_logged_since_last": "\(unlogged[i])",
        ])
        unlogged[i] = 0
    }
}
