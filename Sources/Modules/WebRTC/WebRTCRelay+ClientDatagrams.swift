import NIOCore
import ProxyCore
import ProxyNet

/// Datagrams from clients: the hot path by address, a new address bound by its STUN USERNAME,
/// a new session started from the session signalled here or found in the registry.
extension WebRTCRelay {
    func clientDatagram(_ envelope: AddressedEnvelope<ByteBuffer>) {
        let key = ClientKey(envelope.remoteAddress)
        if let session = byClient[key] {
            session.lastSeen = now
            fromClient(session, envelope, key: key)
            return
        }
        unknownDatagram(envelope)
    }

    /// A datagram of the session's client (from an address bound to it or, with its USERNAME, a new one).
    @inline(__always) func fromClient(_ session: Session, _ envelope: AddressedEnvelope<ByteBuffer>, key: ClientKey) {
        if key != session.clientKey { fromOtherAddress(session, envelope, key: key) }
        toBackend(session, envelope.data)
    }

    /// From an address that is not the active one: bind it if new, note a Binding Request's
    /// transaction for the response, and make it active on nomination or media.
    func fromOtherAddress(_ session: Session, _ envelope: AddressedEnvelope<ByteBuffer>, key: ClientKey) {
        let address = envelope.remoteAddress
        if byClient[key] !== session { bind(session, address, key: key) }
        let (request, nominated, id) = envelope.data.withUnsafeReadableBytes { bytes in
            STUNMessage.isBindingRequest(bytes)
                ? (true, STUNMessage.hasUseCandidate(bytes), STUNMessage.transactionID(bytes)) : (false, false, STUNMessage.TransactionID(high: 0, low: 0))
        }
        if request {
            if session.requestsFromOthers.count >= settings.trackedRequests { session.requestsFromOthers.removeFirst() }
            session.requestsFromOthers.append((id, address))
            if nominated { activate(session, address, key: key, why: "nominated") }
        } else if !envelope.data.withUnsafeReadableBytes({ STUNMessage.looksLikeSTUN($0) }) {
            activate(session, address, key: key, why: "media")
        }
    }

    /// Binds one more client address to the session (the oldest other one goes past the cap).
    func bind(_ session: Session, _ address: SocketAddress, key: ClientKey) {
        if session.others.count + 1 >= settings.maxClientAddresses {
            let oldest = session.others.removeFirst()
            if byClient[oldest.key] === session { byClient[oldest.key] = nil }
        }
        session.others.append((key, address))
        byClient[key] = session
        logger.info("client address added", metadata: [
            "session": "\(session.username)", "address": "\(address.endpointDescription)", "active": "\(session.client.endpointDescription)",
        ])
    }

    /// Makes a bound address the active one (the old one stays bound).
    func activate(_ session: Session, _ address: SocketAddress, key: ClientKey, why: String) {
        guard case .moved(let displaced) = table.rebind(id: session.username, to: address) else { return }
        logger.info("client address changed", metadata: [
            "session": "\(session.username)", "from": "\(session.client.endpointDescription)", "to": "\(address.endpointDescription)", "reason": "\(why)",
        ])
        session.others.removeAll { $0.key == key }
        session.others.append((session.clientKey, session.client))
        session.client = address
        session.clientKey = key
        byClient[key] = session
        if let displaced, displaced.session !== session { end(displaced.session, reason: "its address was taken by another session") }
    }

    func clientReadComplete() {
        now = .now()
        for session in dirty {
            session.needsFlush = false
            session.handler.flush()
            session.accountFromClient()
        }
        dirty.removeAll(keepingCapacity: true)
        flushListener()
    }

    @inline(__always) func toBackend(_ session: Session, _ data: ByteBuffer) {
        guard session.handler.write(data) else {
            drops.notWritable += 1
            return
        }
        session.bytes.addFromClient(data.readableBytes)
        if !session.needsFlush {
            session.needsFlush = true
            dirty.append(session)
        }
    }

    func unknownDatagram(_ envelope: AddressedEnvelope<ByteBuffer>) {
        let verdict = envelope.data.withUnsafeReadableBytes { STUNMessage.inspect($0) }
        let username: String
        switch verdict {
        case .notSTUN, .otherSTUN:
            drops.unknownAddress += 1
            return
        case .malformed:
            drops.badSTUN += 1
            return
        case .binding(_, let name):
            username = name
        }
        if let session = table.session(forID: username, now: now) {
            session.lastSeen = now
            fromClient(session, envelope, key: ClientKey(envelope.remoteAddress))
            return
        }
        if starting[username] != nil {
            if starting[username]!.count < settings.heldPerSession { starting[username]!.append(envelope) } else { drops.notWritable += 1 }
            return
        }
        guard !table.isFull, !quiescing else {
            drops.sessionsFull += 1
            return
        }
        guard starting.count < settings.maxStarting else {
            drops.sessionsFull += 1
            return
        }
        starting[username] = [envelope]
        if let p = pending.removeValue(forKey: username) {
            dial(username, record: p.record, stream: p.stream, lease: p.lease)
        } else {
            lookUp(username, client: envelope.remoteAddress)
        }
    }

    /// A session signalled through another proxy: its record is in the shared registry. The
    /// look-up runs in the module's background work and comes back to the loop.
    func lookUp(_ username: String, client: SocketAddress) {
        let registry = self.registry, sessions = self.sessions, bound = self.bound, loop = self.loop
        let submitted = background.submit {
            var found: (WebRTCSessionRecord, StreamSession, RouteLease)?
            if let text = try? await registry.record(namespace: WebRTCSessionRecord.namespace, id: username),
                let record = WebRTCSessionRecord.decode(text),
                let backend = try? await registry.aliveBackends().first(where: { $0.id.rawValue == record.backend })
            {
                // Signalled (and authorised) through the other proxy: here it is leased without routing.
                let stream = StreamSession(record.request, role: record.role, client: client.endpointDescription, needs: .rtc, context: sessions)
                if let lease = try? await stream.attach(to: backend) { found = (record, stream, lease) }
            }
            let result = found
            loop.execute { bound.value.lookedUp(username, result) }
        }
        if !submitted { drops.unknownUsername += starting.removeValue(forKey: username)?.count ?? 0 }
    }

    private func lookedUp(_ username: String, _ found: (WebRTCSessionRecord, StreamSession, RouteLease)?) {
        guard let (record, stream, lease) = found else {
            drops.unknownUsername += starting.removeValue(forKey: username)?.count ?? 0
            return
        }
        watchClose(username, stream)
        dial(username, record: record, stream: stream, lease: lease)
    }
}
