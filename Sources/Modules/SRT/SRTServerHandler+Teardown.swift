import Logging
import NIOCore
import NIOPosix
import ProxyCore
import ProxyNet

// Ending sessions: one at a time, idle ones, all of them.
extension SRTServerHandler {
    /// Ends a session: out of the table, backend socket closed, hooks told, lease released.
    /// `notify` sends SHUTDOWN to both ends first (idle timeout, replacement, forced stop, close
    /// request). A session still being set up has no SRT connection to shut down: its caller gets
    /// a rejection of its conclusion instead, or it would go on retransmitting the conclusion and
    /// start the session again once this one is out of the table.
    func teardown(_ session: SRTSession, reason: String, notify: Bool) {
        guard session.state != .closed else { return }
        let wasConnected = session.state == .connected
        session.state = .closed
        session.setupTimeout?.cancel()
        if table.entry(forID: session.clientSocketID)?.session === session { table.remove(id: session.clientSocketID) }
        if wasConnected, byBackendSocketID[session.backendSocketID] === session { byBackendSocketID[session.backendSocketID] = nil }
        session.accountFromClient()
        session.accountToClient()
        if notify, wasConnected {
            send(SRTPacket.shutdown(destination: session.clientSocketID), to: session.client)
            _ = session.backend?.forward(ByteBuffer(bytes: SRTPacket.shutdown(destination: session.backendSocketID)))
            session.backend?.flush()
        } else if notify {
            reject(session.conclusion, from: session.client, reason: SRTHandshake.RejectReason.close)
        }
        if let route = session.route {
            session.route = nil
            environment.fastPath?.remove(route)
        }
        session.backend?.close()
        session.backend = nil
        session.stream.end(reason: reason)
        if wasConnected {
            session.logger.info("session closed", metadata: [
                "reason": "\(reason)", "bytes_from_client": "\(session.counters?.bytesFromClient ?? 0)",
                "bytes_to_client": "\(session.counters?.bytesToClient ?? 0)",
            ])
        } else if notify {
            session.logger.info("session closed before it was relayed; the caller's conclusion is rejected", metadata: ["reason": "\(reason)"])
        }
        if !accepting, table.count == 0, let drained {
            self.drained = nil
            drained()
        }
    }

    func expireIdle() {
        // The hot path marks sessions seen on the session object; bring the table up to date first.
        for id in table.ids {
            guard let session = table.entry(forID: id)?.session else { continue }
            if let route = session.route { session.lastSeen = max(session.lastSeen, route.lastSeen) }
            _ = table.session(forID: id, now: session.lastSeen)
        }
        if let lost = environment.fastPath?.takeLost(), lost > 0 {
            drops.note(.notWritable, count: lost, detail: "a socket could not take them (fast path)", logger: logger)
        }
        if let cut = environment.fastPath?.takeTruncated(), cut > 0 {
            drops.note(.truncated, count: cut, detail: "longer than the largest datagram accepted (fast path)", logger: logger)
        }
        for entry in table.expire(now: .now()) {
            teardown(entry.session, reason: "idle for \(settings.idleTimeout.prettyDescription)", notify: true)
        }
    }

    /// Graceful shutdown: new conclusions are rejected; `done` runs once no session is left.
    func stopAccepting(_ done: @escaping () -> Void) {
        accepting = false
        if table.count == 0 {
            done()
        } else {
            drained = done
        }
    }

    /// Forced stop: every session ends now (SHUTDOWN sent to both ends).
    func closeAll(reason: String) {
        for id in table.ids {
            if let session = table.entry(forID: id)?.session { teardown(session, reason: reason, notify: true) }
        }
    }
}

enum SRTSetupError: Error, CustomStringConvertible {
    case refused(String)

    var description: String {
        switch self {
        case .refused(let why): "publish refused: \(why)"
        }
    }
}

extension TimeAmount {
    var prettyDescription: String {
        nanoseconds % 1_000_000_000 == 0 ? "\(nanoseconds / 1_000_000_000)s" : "\(nanoseconds / 1_000_000)ms"
    }
}
