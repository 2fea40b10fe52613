import Logging
import NIOCore
import NIOPosix
import ProxyCore
import ProxyNet

// What the fast path reports about a session's backend socket.
extension SRTServerHandler {
    /// What the fast path reports about `session`'s backend socket.
    func fastPathEvent(_ event: UDPFastPath.BackendEvent, _ session: SRTSession) {
        guard session.state != .closed else { return }
        switch event {
        case .datagrams(let datagrams):
            guard let backend = session.backend else { return }
            for datagram in datagrams { backend.receive(datagram) }
            backend.readComplete()
        case .relayedFromClient:
            teardown(session, reason: "client sent SHUTDOWN", notify: false)
        case .relayedToClient:
            teardown(session, reason: "backend sent SHUTDOWN", notify: false)
        case .error(let error):
            session.backend?.failed(error)
        }
    }
}
