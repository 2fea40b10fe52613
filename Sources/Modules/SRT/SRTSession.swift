import Logging
import NIOCore
import ProxyCore
import ProxyNet

/// One SRT association being relayed: a caller (by address and socket id) and its backend socket.
/// Confined to the listener's event loop, like the table that holds it.
///
/// States: `connecting` (routing, then the backend handshake; the client's conclusion
/// retransmissions are absorbed) -> `connected` (packets relayed both ways by socket id; a repeated
/// conclusion is answered from `response`) -> `closed`.
final class SRTSession {
    enum State: Equatable {
        case connecting, connected, closed
    }

    let client: SocketAddress
    let clientText: String
    /// The caller's SRT socket id (its packets' source; the backend's packets carry it as destination).
    let clientSocketID: UInt32
    /// The caller's conclusion, forwarded to the backend with the backend's cookie.
    let conclusion: SRTHandshake
    /// The session's life cycle: the publish hook, the lease, the start and end events.
    let stream: StreamSession
    var request: StreamRequest { stream.request }
    var role: SessionRole { stream.role }
    var logger: Logger

    var state = State.connecting
    /// The backend's socket id (the destination of the caller's packets), known once connected.
    var backendSocketID: UInt32 = 0
    /// The conclusion response sent to the caller, resent when the caller repeats its conclusion.
    var response: ByteBuffer?
    var backend: SRTBackendHandler?
    /// The backend socket's route in the listener's UDPFastPath (when it runs): relays both ways
    /// once established, and reports when the client was last relayed.
    var route: UDPFastPathRoute?
    var counters: SessionCounters?
    /// Routing and backend handshake deadline.
    var setupTimeout: Scheduled<Void>?
    /// Set when a write went to the backend during the current read batch (flushed at read-complete).
    var backendFlushPending = false
    /// When a packet of the caller was last relayed (the hot path marks it here, not in the table).
    var lastSeen = NIODeadline.uptimeNanoseconds(0)
    /// Bytes relayed in the current read batch, added to `counters` once per batch.
    var bytes = BatchedByteCounts()

    func accountFromClient() { bytes.accountFromClient(to: counters) }
    func accountToClient() { bytes.accountToClient(to: counters) }

    init(client: SocketAddress, conclusion: SRTHandshake, request: StreamRequest, role: SessionRole, sessions: StreamSession.Context, logger: Logger) {
        self.client = client
        self.clientText = client.endpointDescription
        self.clientSocketID = conclusion.socketID
        self.conclusion = conclusion
        self.stream = StreamSession(request, role: role, client: clientText, needs: .srt, context: sessions)
        var logger = logger
        logger[metadataKey: "client"] = "\(clientText)"
        logger[metadataKey: "stream"] = "\(request.key)"
        logger[metadataKey: "mode"] = "\(role == .publish ? "publish" : "request")"
        self.logger = logger
    }
}

extension SocketAddress {
    /// The handshake's peer IP field for this address, as libsrt writes it.
    var srtPeerIPField: [UInt8] {
        switch self {
        case .v4(let a):
            let raw = a.address.sin_addr.s_addr  // network order in memory
            return withUnsafeBytes(of: raw) { SRTHandshake.peerIPField(ipv4: Array($0)) }
        case .v6(let a):
            return withUnsafeBytes(of: a.address.sin6_addr) { Array($0) }
        default:
            return [UInt8](repeating: 0, count: 16)
        }
    }
}
