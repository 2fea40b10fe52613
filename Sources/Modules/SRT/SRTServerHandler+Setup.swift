import Logging
import NIOCore
import NIOPosix
import ProxyCore
import ProxyNet

// Setting a session up: the publish hook, the route, the backend handshake.
extension SRTServerHandler {
    /// Asks the publish hook first; its own timeout (`hooks.publish_auth.timeout`) bounds the wait,
    /// so `backend_timeout` is left whole for routing and the backend handshake.
    func authorize(_ session: SRTSession) {
        guard let context else { return }
        let stream = session.stream
        let loop = NIOLoopBound((self, session), eventLoop: context.eventLoop)
        session.logger.debug("asking the publish hook")
        stream.authorize(on: context.eventLoop).whenComplete { result in
            let (server, session) = loop.value
            guard session.state == .connecting else { return }
            if case .failure(let error) = result {
                let refused = (error as? StreamSession.Refusal).flatMap { refusal -> SRTSetupError? in
                    switch refusal {
                    case .denied(let why), .playDenied(let why): .refused(why)
                    default: nil
                    }
                }
                return server.setupFailed(session, "\(error)", unreachable: false, refused: refused ?? error)
            }
            server.route(session)
        }
    }

    func route(_ session: SRTSession) {
        guard let context else { return }
        session.logger.debug("routing")
        let loop = NIOLoopBound((self, session), eventLoop: context.eventLoop)
        session.setupTimeout = context.eventLoop.scheduleTask(in: settings.backendTimeout) {
            let (server, session) = loop.value
            server.setupFailed(session, "no backend handshake within \(server.settings.backendTimeout.prettyDescription)", unreachable: true)
        }
        // Closed on request (the commands API): SHUTDOWN to both ends, the session dropped.
        let eventLoop = context.eventLoop
        session.stream.onClose { reason in
            eventLoop.execute {
                let (server, session) = loop.value
                server.teardown(session, reason: "closed: \(reason)", notify: true)
            }
        }
        let stream = session.stream
        stream.acquire(on: context.eventLoop).whenComplete { result in
            let (server, session) = loop.value
            switch result {
            case .success(let lease): server.dial(session, lease)
            case .failure(let error):
                let cause: any Error = if case .routing(let routing)? = error as? StreamSession.Refusal { routing } else { error }
                server.setupFailed(session, "\(error)", unreachable: false, refused: cause)
            }
        }
    }

    func dial(_ session: SRTSession, _ lease: RouteLease) {
        guard session.state == .connecting, let context else { return }
        session.counters = lease.counters
        session.logger[metadataKey: "backend"] = "\(lease.backend.id)"
        guard let address = lease.address else {
            setupFailed(session, "backend has no srt endpoint", unreachable: false)
            return
        }
        let loop = NIOLoopBound((self, session), eventLoop: context.eventLoop)
        let sink: UDPFastPath.BackendSink = { event in
            let (server, session) = loop.value
            server.fastPathEvent(event, session)
        }
        environment.dialer(address, context.eventLoop, session.client, sink).whenComplete { result in
            let (server, session) = loop.value
            switch result {
            case .success(let socket): server.backendConnected(session, socket)
            case .failure(let error): server.redispatch(session, "cannot reach the backend at \(address): \(error)")
            }
        }
    }

    func backendConnected(_ session: SRTSession, _ socket: UDPBackendSocket) {
        let channel = socket.channel
        guard session.state == .connecting else {
            if let route = socket.route { environment.fastPath?.remove(route) }
            channel.close(promise: nil)
            return
        }
        session.route = socket.route
        let peerIP = channel.remoteAddress?.srtPeerIPField ?? [UInt8](repeating: 0, count: 16)
        let loop = NIOLoopBound((self, session), eventLoop: channel.eventLoop)
        // With the fast path the channel only sends the handshake and stray packets: no UDP_SEGMENT
        // socket option, which would apply to the fast path's sends on the same socket too.
        let gso = settings.gso && socket.route == nil
        let handler = SRTBackendHandler(server: self, session: session, backendPeerIP: peerIP, gso: gso) { outcome in
            let (server, session) = loop.value
            server.backendAnswered(session, outcome)
        }
        do {
            try channel.pipeline.syncOperations.addHandler(handler)
        } catch {
            channel.close(promise: nil)
            setupFailed(session, "backend socket: \(error)", unreachable: false)
            return
        }
        session.backend = handler
        handler.start()
    }

    func backendAnswered(_ session: SRTSession, _ outcome: SRTBackendHandler.Outcome) {
        guard session.state == .connecting else { return }
        switch outcome {
        case .accepted(let hs):
            var reply = hs
            reply.peerIP = session.client.srtPeerIPField
            let bytes = reply.serialized()
            guard let context else { return }
            let response = context.channel.allocator.buffer(bytes: bytes)
            session.backendSocketID = hs.socketID
            session.response = response
            session.state = .connected
            if byBackendSocketID[hs.socketID] == nil { byBackendSocketID[hs.socketID] = session }
            if let route = session.route { environment.fastPath?.establish(route, key: hs.socketID, counters: session.counters) }
            session.setupTimeout?.cancel()
            context.writeAndFlush(wrapOutboundOut(AddressedEnvelope(remoteAddress: session.client, data: response)), promise: nil)
            session.stream.started()
            session.logger.info("session relayed", metadata: [
                "client_socket": "\(session.clientSocketID)", "backend_socket": "\(hs.socketID)",
            ])
        case .rejected(let hs):
            var reply = hs
            reply.peerIP = session.client.srtPeerIPField
            send(reply.serialized(), to: session.client)
            if case .rejection(let reason) = hs.kind {
                session.logger.warning("backend rejected the connection", metadata: ["reason": "\(reason)"])
            }
            teardown(session, reason: "backend rejected the connection", notify: false)
        case .failed(let why):
            redispatch(session, why)
        }
    }

    /// The backend could not be reached or failed its handshake: its socket goes, and the
    /// session is routed again within what is left of its setup time (`backend_timeout`), or
    /// refused when no other backend can take it.
    func redispatch(_ session: SRTSession, _ why: String) {
        guard session.state == .connecting, let context else { return }
        if let route = session.route {
            session.route = nil
            environment.fastPath?.remove(route)
        }
        session.backend?.close()
        session.backend = nil
        session.logger.warning("backend unreachable, routing the session again", metadata: ["error": "\(why)"])
        let loop = NIOLoopBound((self, session), eventLoop: context.eventLoop)
        session.stream.redispatch(reason: why, on: context.eventLoop).whenComplete { result in
            let (server, session) = loop.value
            switch result {
            case .success(let lease): server.dial(session, lease)
            // A player whose stream no publisher holds anywhere: rejected as not found (1404).
            case .failure(StreamSession.Refusal.routing(let routing)): server.setupFailed(session, "\(routing)", unreachable: false, refused: routing)
            // The session ended as unreachable in `redispatch` (route failed over, backend a suspect).
            case .failure(let error): server.setupFailed(session, "\(error)", unreachable: false)
            }
        }
    }

    /// Routing or the backend handshake failed: reject the caller and drop the session.
    func setupFailed(_ session: SRTSession, _ why: String, unreachable: Bool, refused: (any Error)? = nil) {
        guard session.state == .connecting else { return }
        let reason: UInt32
        switch refused {
        case SRTSetupError.refused?: reason = SRTHandshake.RejectReason.forbidden
        case RoutingError.noStream?: reason = SRTHandshake.RejectReason.notFound
        case is RoutingError: reason = SRTHandshake.RejectReason.serviceUnavailable
        default: reason = SRTHandshake.RejectReason.badGateway
        }
        session.logger.warning("cannot relay the stream", metadata: ["error": "\(why)"])
        reject(session.conclusion, from: session.client, reason: reason)
        if unreachable { session.stream.endUnreachable(reason: why) }
        teardown(session, reason: why, notify: false)
    }
}
