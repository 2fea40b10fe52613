import NIOCore
import ProxyCore
import ProxyNet

/// Backend sockets: one connected socket per session, its datagrams relayed to the client.
extension WebRTCRelay {
    func dial(_ username: String, record: WebRTCSessionRecord, stream: StreamSession, lease: RouteLease) {
        let address: SocketAddress
        do {
            address = try SocketAddress(ipAddress: record.ip, port: record.port)
        } catch {
            failStart(username, stream: stream, reason: "bad backend address \(record.ip):\(record.port)")
            return
        }
        let handler = NIOLoopBound(BackendHandler(relay: self, gso: settings.gso), eventLoop: loop)
        let bound = self.bound
        UDPBackendDialer.connect(to: address, on: loop) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.syncOptions?.setOption(.writeBufferWaterMark, value: WebRTCRelay.writeWaterMark)
                try channel.pipeline.syncOperations.addHandler(handler.value)
            }
        }
        .hop(to: loop)
        .whenComplete { result in
            let relay = bound.value
            switch result {
            case .failure(let error):
                relay.failStart(username, stream: stream, reason: "cannot open a socket to the backend: \(error)")
            case .success(let channel):
                relay.started(username, record: record, stream: stream, lease: lease, channel: channel, handler: handler.value)
            }
        }
    }

    func failStart(_ username: String, stream: StreamSession, reason: String) {
        drops.backendFailed += starting.removeValue(forKey: username)?.count ?? 0
        logger.warning("media session not started", metadata: ["session": "\(username)", "reason": "\(reason)"])
        stream.end(reason: reason)
    }

    func started(
        _ username: String, record: WebRTCSessionRecord, stream: StreamSession, lease: RouteLease, channel: any Channel, handler: BackendHandler
    ) {
        let held = starting.removeValue(forKey: username) ?? []
        guard let client = held.first?.remoteAddress, !stream.isEnded else {
            // Closed while the socket was made.
            channel.close(promise: nil)
            stream.end(reason: "closed before its first datagram was relayed")
            return
        }
        let session = Session(
            username: username, record: record, stream: stream, lease: lease, backend: channel, handler: handler, client: client, now: now)
        do {
            if let displaced = try table.insert(id: username, address: client, session: session, now: now) {
                end(displaced.session, reason: "its address was taken by another session")
            }
            byClient[session.clientKey] = session
        } catch {
            drops.sessionsFull += held.count
            channel.close(promise: nil)
            stream.end(reason: "session table full")
            return
        }
        handler.session = session
        stream.started()
        logger.info("media session started", metadata: [
            "session": "\(username)", "stream": "\(record.stream)", "mode": "\(record.role.rawValue)", "client": "\(client.endpointDescription)",
            "backend": "\(lease.backend.id)", "backend_udp": "\(record.ip):\(record.port)",
        ])
        refreshRecord(session)
        for envelope in held { fromClient(session, envelope, key: ClientKey(envelope.remoteAddress)) }
        clientReadComplete()
    }

    /// A datagram of the backend: to the session's destination, or a Binding response to the
    /// address its check came from (WebRTCRelay+Addresses); nothing goes to an address without
    /// consent.
    func backendDatagram(_ session: Session, _ data: ByteBuffer) {
        guard let listener, listener.isWritable else {
            drops.notWritable += 1
            return
        }
        let to: SocketAddress
        if data.readableBytes >= STUNMessage.headerSize, data.getInteger(at: data.readerIndex, as: UInt8.self)! <= 3,
            data.withUnsafeReadableBytes({ STUNMessage.isBindingResponse($0) })
        {
            guard let address = routeResponse(session, data) else {
                drops.unconsented += 1
                return
            }
            to = address
        } else {
            guard session.hasDestination else {
                drops.unconsented += 1
                return
            }
            to = session.client
        }
        session.bytes.addToClient(data.readableBytes)
        listener.write(AddressedEnvelope(remoteAddress: to, data: data), promise: nil)
        listenerNeedsFlush = true
    }

    func flushListener() {
        guard listenerNeedsFlush else { return }
        listenerNeedsFlush = false
        listener?.flush()
    }

    func backendClosed(_ session: Session) {
        if table.entry(forID: session.username)?.session === session {
            table.remove(id: session.username)
            end(session, reason: "backend socket closed")
        }
    }
}
