import NIOCore
import ProxyCore
import ProxyNet

extension WebRTCRelay {
    /// One media session.
    final class Session {
        let username: String
        let record: WebRTCSessionRecord
        /// Its life cycle: the lease, the start and end events.
        let stream: StreamSession
        let lease: RouteLease
        let backend: any Channel
        /// The active client address: where everything but a routed Binding response goes, once
        /// it has consent (`hasDestination`).
        var client: SocketAddress
        /// `client` as a cheap dictionary key (the hot path's one lookup).
        var clientKey: ClientKey
        /// Whether `client` may be sent to: the backend answered a check from it with a Binding
        /// success, less than `consentLifetime` ago (`consentUntil`). Until then only the
        /// responses to its own checks go to it (RFC 7675's consent, applied by the proxy).
        var hasDestination = false
        var consentUntil = NIODeadline.distantPast
        /// The client's other bound addresses (checks from its other local candidates), each in
        /// `byClient` too while it leads to this session, with when its consent runs out.
        var others: [(key: ClientKey, address: SocketAddress, consentUntil: NIODeadline)] = []
        /// Binding Requests relayed from addresses other than the destination (and from the
        /// first address before its consent), for their responses to go back there.
        var checks: [(id: STUNMessage.TransactionID, key: ClientKey, address: SocketAddress)] = []
        /// An address that asked to be the destination (nominated or sent media) before its
        /// consent: it becomes the destination when the backend answers its check.
        var wantsActive: ClientKey?
        /// The backend socket's handler: writes go to its context, past the pipeline's tail. (The
        /// handler's reference back to the session is dropped when the socket closes.)
        let handler: BackendHandler
        var needsFlush = false
        /// Set by the hot path; copied into the session table before idle expiry.
        var lastSeen: NIODeadline
        /// Bytes relayed in the current read batch, added to the lease's counters once per batch.
        var bytes = BatchedByteCounts()
        var lastRecordRefresh: NIODeadline

        init(
            username: String, record: WebRTCSessionRecord, stream: StreamSession, lease: RouteLease, backend: any Channel,
            handler: BackendHandler, client: SocketAddress, now: NIODeadline
        ) {
            self.username = username
            self.record = record
            self.stream = stream
            self.lease = lease
            self.backend = backend
            self.handler = handler
            self.client = client
            self.clientKey = ClientKey(client)
            self.lastSeen = now
            self.lastRecordRefresh = now
        }

        func accountFromClient() { bytes.accountFromClient(to: lease.counters) }
        func accountToClient() { bytes.accountToClient(to: lease.counters) }
    }
}
