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

    /// A datagram of the session's client (from an address bound to it or, with its USERNAME, a
    /// new one). The hot path is the destination's own datagrams; everything else goes through
    /// the address and consent rules (WebRTCRelay+Addresses).
    @inline(__always) func fromClient(_ session: Session, _ envelope: AddressedEnvelope<ByteBuffer>, key: ClientKey) {
        if key != session.clientKey || !session.hasDestination { fromOtherAddress(session, envelope, key: key) }
        toBackend(session, envelope.data)
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
        if let p = pending.removeValue(forKey: username) {
            // Signalled through this proxy: it starts whatever junk fills the look-ups.
            starting[username] = [envelope]
            dial(username, record: p.record, stream: p.stream, lease: p.lease)
        } else {
            // A USERNAME this proxy did not signal costs a registry look-up: bounded in all and per
            // client address, so a flood of random USERNAMEs cannot starve the others.
            guard starting.count < settings.maxStarting, lookUps.allow(envelope.remoteAddress.ipAddress ?? "") else {
                drops.sessionsFull += 1
                return
            }
            starting[username] = [envelope]
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
