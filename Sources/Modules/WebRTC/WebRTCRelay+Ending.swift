import NIOCore
import ProxyCore
import ProxyNet

/// Ending sessions, and the sweep: idle expiry, pending sessions never started, registry
/// records refreshed while their sessions live, drop counters logged.
extension WebRTCRelay {
    func end(_ session: Session, reason: String) {
        unindex(session)
        session.accountFromClient()
        session.accountToClient()
        session.backend.close(promise: nil)
        defer { closeListenerIfDrained() }
        let lease = session.lease, record = session.record, registry = self.registry
        logger.info("media session ended", metadata: [
            "session": "\(session.username)", "stream": "\(record.stream)", "reason": "\(reason)",
            "bytes_from_client": "\(lease.counters.bytesFromClient)", "bytes_to_client": "\(lease.counters.bytesToClient)",
        ])
        session.stream.end(reason: reason)
        let username = session.username
        background.submit { try? await registry.deleteRecord(namespace: WebRTCSessionRecord.namespace, id: username) }
    }

    /// The session's client addresses no longer lead to it (the session ended).
    private func unindex(_ session: Session) {
        if byClient[session.clientKey] === session { byClient[session.clientKey] = nil }
        for other in session.others where byClient[other.key] === session { byClient[other.key] = nil }
    }

    func refreshRecord(_ session: Session) {
        session.lastRecordRefresh = now
        let registry = self.registry, record = session.record, username = session.username, ttl = settings.recordTTL
        background.submit {
            try? await registry.putRecord(record.json, namespace: WebRTCSessionRecord.namespace, id: username, ttl: ttl)
            if let resource = record.resource {
                // The resource record lives as long as the session: re-put it with the same content.
                if let text = try? await registry.record(namespace: WebRTCResourceRecord.namespace, id: resource) {
                    try? await registry.putRecord(text, namespace: WebRTCResourceRecord.namespace, id: resource, ttl: ttl)
                }
            }
        }
    }

    func sweep() {
        now = .now()
        // The hot path marks sessions seen on the session object; bring the table up to date first.
        for username in table.ids {
            guard let session = table.entry(forID: username)?.session else { continue }
            _ = table.session(forID: username, now: session.lastSeen)
            expireConsent(session)
        }
        for entry in table.expire(now: now) { end(entry.session, reason: "idle for \(settings.idleTimeout.nanoseconds / 1_000_000_000) s") }
        for (username, p) in pending where p.deadline < now {
            pending[username] = nil
            p.stream.end(reason: "no datagram within \(settings.idleTimeout.nanoseconds / 1_000_000_000) s of the answer")
        }
        let refreshEvery = TimeAmount.nanoseconds(Int64(settings.recordTTL.seconds * 1e9 / 3))
        for username in table.ids {
            if let session = table.entry(forID: username)?.session, now - session.lastRecordRefresh >= refreshEvery { refreshRecord(session) }
        }
        if drops != loggedDrops, now - lastDropLog >= .seconds(10) {
            loggedDrops = drops
            lastDropLog = now
            logger.notice("datagrams dropped", metadata: ["total": "\(drops.total)", "reasons": "\(drops)"])
        }
    }
}
