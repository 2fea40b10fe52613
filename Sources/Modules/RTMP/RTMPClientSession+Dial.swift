import Logging
import NIOCore
import ProxyCore
import ProxyNet

/// Reaching the backend: the dial (with the PROXY protocol header when configured) and the
/// backend's handshake, and routing the session again when the backend cannot be reached.
extension RTMPClientSession {
    /// Dials the lease's backend and runs the client side of its handshake, all before
    /// `deadline` (the session's `backend_timeout`, whatever the attempts). When the backend
    /// cannot be reached, the session is redispatched to another one while time is left.
    func dial(_ lease: RouteLease, publishing: Bool, deadline: NIODeadline, _ context: ChannelHandlerContext) {
        guard stage == .routing, let address = lease.address else {
            cleanUp(reason: "client left while routing")
            return
        }
        logger[metadataKey: "backend"] = "\(lease.backend.id)"
        let handshakeDone = context.eventLoop.makePromise(of: ByteBuffer.self)
        let loop = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let left = max(deadline - .now(), .milliseconds(1))
        let version = lease.backend.proxyProtocol.flatMap(ProxyProtocolHeader.Version.init(rawValue:)) ?? settings.proxyProtocol
        let preamble = ProxyProtocolHeader.make(version, source: context.channel.remoteAddress, destination: context.channel.localAddress)
        let connect = BackendDialer.connect(to: address, on: context.eventLoop, timeout: left) { channel in
            channel.eventLoop.makeCompletedFuture {
                if let preamble { try channel.pipeline.syncOperations.addHandler(ProxyProtocolPreamble(header: preamble)) }
                try channel.pipeline.syncOperations.addHandler(RTMPBackendHandshake(done: handshakeDone))
            }
        }
        connect.whenSuccess { channel in
            let handler = loop.value.0
            // The client may have left during the dial: nothing is left to relay for.
            guard handler.stage == .routing else { return channel.close(promise: nil) }
            handler.backendChannel = channel
            channel.eventLoop.scheduleTask(deadline: deadline) { handshakeDone.fail(RTMPError.backendHandshake("no answer in time")) }
        }
        connect.whenFailure { handshakeDone.fail($0) }
        handshakeDone.futureResult.whenComplete { result in
            let (handler, context) = loop.value
            switch result {
            case .success(let leftover): handler.relay(lease, leftover: leftover, publishing: publishing, context)
            case .failure(let error): handler.redispatch(after: error, publishing: publishing, deadline: deadline, context)
            }
        }
    }

    /// The backend could not be reached: route the session again, or refuse it with the
    /// dial's error when no other backend or no time is left.
    func redispatch(after error: any Error, publishing: Bool, deadline: NIODeadline, _ context: ChannelHandlerContext) {
        backendChannel?.close(promise: nil)
        backendChannel = nil
        guard stage == .routing, let session else { return cleanUp(reason: "client left while the backend was reached") }
        guard NIODeadline.now() < deadline else {
            session.endUnreachable(reason: "\(error)")
            return refuse(context, publishing: publishing, error)
        }
        logger.warning("backend unreachable, routing the session again", metadata: ["error": "\(error)"])
        // A player whose stream was known to be there: placed at once (so it is at the new
        // origin before the returning publisher's first keyframe), its answers held until media.
        if !publishing, session.lease?.claimedRoute == false { holdForPublisher = true }
        let loop = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        session.redispatch(reason: "\(error)", deadline: deadline, follow: false, on: context.eventLoop).whenComplete { result in
            let (handler, context) = loop.value
            switch result {
            case .success(let lease): handler.dial(lease, publishing: publishing, deadline: deadline, context)
            // A player whose stream no publisher holds anywhere: NetStream.Play.StreamNotFound.
            case .failure(StreamSession.Refusal.routing(let routing)): handler.refuse(context, publishing: publishing, routing)
            case .failure: handler.refuse(context, publishing: publishing, error)
            }
        }
    }
}
