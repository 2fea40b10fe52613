import NIOCore
import ProxyNet

/// A session's client addresses and the consent rule (RFC 7675, applied by the proxy): a client
/// address becomes the session's destination only after the backend answered, with a Binding
/// success, a Binding Request that came from that address, and stays it while such answers keep
/// coming (`consentLifetime`). Until then only the responses to the address's own checks are
/// sent to it. So a datagram spoofed from another address (a victim's) can be bound and relayed
/// to the backend, but no media is ever sent to that address unless the backend accepted a check
/// from it.
extension WebRTCRelay {
    /// How long a Binding success from the backend gives an address consent (RFC 7675: 30 s).
    static let consentLifetime = TimeAmount.seconds(30)

    /// From an address that is not the destination (or before the destination has consent): bind
    /// it if new, note a Binding Request's transaction for the response, and ask for it to become
    /// the destination on nomination or media.
    func fromOtherAddress(_ session: Session, _ envelope: AddressedEnvelope<ByteBuffer>, key: ClientKey) {
        let address = envelope.remoteAddress
        if byClient[key] !== session { bind(session, address, key: key) }
        let (request, nominated, id) = envelope.data.withUnsafeReadableBytes { bytes in
            STUNMessage.isBindingRequest(bytes)
                ? (true, STUNMessage.hasUseCandidate(bytes), STUNMessage.transactionID(bytes)) : (false, false, STUNMessage.TransactionID(high: 0, low: 0))
        }
        if request {
            if session.checks.count >= settings.trackedRequests { session.checks.removeFirst() }
            session.checks.append((id, key, address))
            if nominated { wantActive(session, address, key: key, why: "nominated") }
        } else if !envelope.data.withUnsafeReadableBytes({ STUNMessage.looksLikeSTUN($0) }) {
            wantActive(session, address, key: key, why: "media")
        }
    }

    /// Binds one more client address to the session (the oldest other one goes past the cap).
    func bind(_ session: Session, _ address: SocketAddress, key: ClientKey) {
        if session.others.count + 1 >= settings.maxClientAddresses {
            let oldest = session.others.removeFirst()
            if byClient[oldest.key] === session { byClient[oldest.key] = nil }
        }
        session.others.append((key, address, .distantPast))
        byClient[key] = session
        logger.info("client address added", metadata: [
            "session": "\(session.username)", "address": "\(address.endpointDescription)", "active": "\(session.client.endpointDescription)",
        ])
    }

    /// The address asks to be the destination: it is, at once when it has consent, else when the
    /// backend answers its check.
    private func wantActive(_ session: Session, _ address: SocketAddress, key: ClientKey, why: String) {
        if key == session.clientKey {
            if session.hasDestination { return }
            session.wantsActive = key
            return
        }
        if let other = session.others.first(where: { $0.key == key }), other.consentUntil > now {
            activate(session, address, key: key, consentUntil: other.consentUntil, why: why)
        } else {
            session.wantsActive = key
        }
    }

    /// Makes a bound address with consent the destination (the old one stays bound).
    func activate(_ session: Session, _ address: SocketAddress, key: ClientKey, consentUntil: NIODeadline, why: String) {
        if key == session.clientKey {
            session.hasDestination = true
            session.consentUntil = consentUntil
            session.wantsActive = nil
            return
        }
        guard case .moved(let displaced) = table.rebind(id: session.username, to: address) else { return }
        logger.info("client address changed", metadata: [
            "session": "\(session.username)", "from": "\(session.client.endpointDescription)", "to": "\(address.endpointDescription)", "reason": "\(why)",
        ])
        session.others.removeAll { $0.key == key }
        session.others.append((session.clientKey, session.client, session.hasDestination ? session.consentUntil : .distantPast))
        session.client = address
        session.clientKey = key
        session.hasDestination = true
        session.consentUntil = consentUntil
        session.wantsActive = nil
        byClient[key] = session
        if let displaced, displaced.session !== session { end(displaced.session, reason: "its address was taken by another session") }
    }

    /// Where a Binding response of the backend goes: the address its request came from. A
    /// success gives that address consent, and makes it the destination when it is the session's
    /// first address or asked to be (nominated, sent media). A success for a check that is not
    /// tracked answers the destination's own check: its consent is refreshed.
    func routeResponse(_ session: Session, _ data: ByteBuffer) -> SocketAddress? {
        let (id, success) = data.withUnsafeReadableBytes { bytes in (STUNMessage.transactionID(bytes), STUNMessage.isBindingSuccess(bytes)) }
        guard let index = session.checks.firstIndex(where: { $0.id == id }) else {
            if success, session.hasDestination { session.consentUntil = now + Self.consentLifetime }
            return session.hasDestination ? session.client : nil
        }
        let check = session.checks.remove(at: index)
        guard success else { return check.address }
        let until = now + Self.consentLifetime
        if check.key == session.clientKey {
            session.consentUntil = until
            if !session.hasDestination { activate(session, check.address, key: check.key, consentUntil: until, why: "consent") }
        } else if let i = session.others.firstIndex(where: { $0.key == check.key }) {
            session.others[i].consentUntil = until
            if session.wantsActive == check.key { activate(session, check.address, key: check.key, consentUntil: until, why: "consent") }
        }
        return check.address
    }

    /// A destination whose consent ran out is sent nothing more until a check of it is answered.
    func expireConsent(_ session: Session) {
        guard session.hasDestination, session.consentUntil <= now else { return }
        session.hasDestination = false
        logger.info("client consent expired", metadata: ["session": "\(session.username)", "address": "\(session.client.endpointDescription)"])
    }
}
