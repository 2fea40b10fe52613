import Logging
import NIOCore
import ProxyCore
import ProxyNet

/// One RTMP client, from its first byte until its stream is relayed:
/// 1. handshake (C0/C1 -> S0/S1/S2, C2);
/// 2. the commands up to publish/play: connect, releaseStream, FCPublish and createStream are
///    answered here (so the stream name can be learned), everything else is only read;
/// 3. the stream key from connect's tcUrl and the publish/play name -> Router -> backend;
/// 4. dial the backend, handshake as a client, replay every byte the client sent after its
///    handshake, verbatim: the backend's chunk parser ends in the client's state, so from then
///    on client -> backend is a plain byte splice (GlueHandler);
/// 5. backend -> client goes through RTMPBackendTranslator, and this handler leaves the pipeline.
/// Every stage is bounded (bytes, message size, time); a bad client costs one closed connection.
final class RTMPClientSession: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    struct Settings: Sendable {
        var handshakeTimeout: TimeAmount
        var backendTimeout: TimeAmount
        var limits: RTMPChunkDecoder.Limits
        /// A relay with no byte either way for this long is closed.
        var idleTimeout: TimeAmount = .seconds(60)
        /// Client bytes held while the backend is being reached.
        var maxPendingBytes = 1024 * 1024
        /// The PROXY protocol header of dials to origins that registered none of their own.
        var proxyProtocol = ProxyProtocolHeader.Version.off
    }

    struct Environment: Sendable {
        /// What every session's StreamSession shares (router, hooks, the module's identity).
        var sessions: StreamSession.Context
        var logger: Logger
        /// The module's counters of refused connections (every session adds to the same ones).
        var refusals = ReasonCounters<RTMPRefusal>()
    }

    enum Stage {
        case c0c1, c2, commands, routing, relaying, closed
    }

    let settings: Settings
    private let environment: Environment
    var logger: Logger
    var stage = Stage.c0c1
    private var handshakeBytes = ByteBuffer()
    /// Every byte after the client's C2: parsed up to `parsedIndex`, all of it replayed to the backend.
    private var stream = ByteBuffer()
    private var parsedIndex = 0
    private var decoder: RTMPChunkDecoder
    private var assembler: RTMPMessageAssembler
    private var tcUrl: String?
    private var createStreamTransaction: Double?
    private var answered: Set<Double> = []
    private var timeout: Scheduled<Void>?
    private var client = ""
    var backendChannel: (any Channel)?
    /// The session's life cycle (hook, lease, events), once its stream is known.
    var session: StreamSession?
    /// Where each chunk stream's current message began in `stream`, and whether in one chunk.
    private var messageStarts: [UInt32: (offset: Int, single: Bool)] = [:]
    /// The publish command, to replay under another name when the hook renamed the stream.
    private var routedCommand: RTMPRoutedCommand?
    /// A player routed again from the origin its stream was on: the origin's answers are held
    /// until media comes, or it is told NetStream.Play.StreamNotFound (`registry.redispatch_wait`).
    var holdForPublisher = false

    init(settings: Settings, environment: Environment) {
        self.settings = settings
        self.environment = environment
        self.logger = environment.logger
        // The client's bytes are replayed to the backend: parse them strictly, so the proxy reads the
        // same stream name the backend will (see readCommands).
        var strict = settings.limits
        strict.strict = true
        self.decoder = RTMPChunkDecoder(limits: strict)
        self.assembler = RTMPMessageAssembler(maxSize: min(settings.limits.maxMessageSize, 256 * 1024))
    }

    func handlerAdded(context: ChannelHandlerContext) {
        client = context.channel.remoteAddress?.endpointDescription ?? "?"
        logger[metadataKey: "client"] = "\(client)"
        let loop = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timeout = context.eventLoop.scheduleTask(in: settings.handshakeTimeout) {
            let (session, context) = loop.value
            session.fail(context, RTMPError.handshakeTimeout)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        do {
            switch stage {
            case .c0c1, .c2:
                handshakeBytes.writeBuffer(&bytes)
                try handshake(context)
            case .commands:
                try append(&bytes)
                try readCommands(context)
            case .routing:
                try append(&bytes)
            case .relaying, .closed:
                return
            }
        } catch {
            fail(context, error)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if stage != .relaying { cleanUp(reason: "client closed before its stream was relayed") }
        stage = .closed
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(context, error)
    }

    /// Before the relay exists, a client that ends its output is gone: close at once rather than
    /// hold the connection until the handshake timeout. (Half-close is enabled on the listener for
    /// the relay's sake; once relaying, GlueHandler handles it.)
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .inputClosed = event as? ChannelEvent, stage != .relaying {
            logger.debug("client ended its stream before it was relayed")
            stage = .closed
            timeout?.cancel()
            cleanUp(reason: "client ended its stream before it was relayed")
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    // MARK: - Handshake and commands

    private func handshake(_ context: ChannelHandlerContext) throws(RTMPError) {
        if stage == .c0c1 {
            guard let version = handshakeBytes.getInteger(at: handshakeBytes.readerIndex, as: UInt8.self) else { return }
            guard version == RTMPHandshake.version else { throw .badVersion(version) }
            guard handshakeBytes.readableBytes >= 1 + RTMPHandshake.packetSize else { return }
            handshakeBytes.moveReaderIndex(forwardBy: 1)
            let c1 = handshakeBytes.readSlice(length: RTMPHandshake.packetSize)!
            context.writeAndFlush(wrapOutboundOut(RTMPHandshake.serverResponse(c1: c1, allocator: context.channel.allocator)), promise: nil)
            stage = .c2
        }
        guard stage == .c2, handshakeBytes.readableBytes >= RTMPHandshake.packetSize else { return }
        handshakeBytes.moveReaderIndex(forwardBy: RTMPHandshake.packetSize)
        var rest = handshakeBytes
        handshakeBytes = ByteBuffer()
        stage = .commands
        try append(&rest)
        try readCommands(context)
    }

    private func append(_ bytes: inout ByteBuffer) throws(RTMPError) {
        guard stream.readableBytes + bytes.readableBytes <= settings.maxPendingBytes else { throw .bufferLimit(settings.maxPendingBytes) }
        stream.writeBuffer(&bytes)
    }

    private func readCommands(_ context: ChannelHandlerContext) throws(RTMPError) {
        var unparsed = stream.getSlice(at: stream.readerIndex + parsedIndex, length: stream.readableBytes - parsedIndex)!
        var replies = context.channel.allocator.buffer(capacity: 0)
        defer { if replies.readableBytes > 0 { context.writeAndFlush(wrapOutboundOut(replies), promise: nil) } }
        var chunkStart = parsedIndex
        while stage == .commands, let chunk = try decoder.next(&unparsed) {
            if chunk.isFirst { messageStarts[chunk.csid] = (chunkStart, chunk.isLast) }
            parsedIndex = stream.readableBytes - unparsed.readableBytes
            chunkStart = parsedIndex
            // Constructs whose meaning differs between origins (nginx-rtmp ignores Abort; a Set Chunk
            // Size split over chunks is applied by some and not others) could make the backend read a
            // different stream name than the one routed and authorised: refuse them before replay.
            if chunk.typeID == RTMPMessageType.abort { throw .ambiguousControl("Abort") }
            if chunk.typeID == RTMPMessageType.setChunkSize, !(chunk.isFirst && chunk.isLast) {
                throw .ambiguousControl("a Set Chunk Size split over chunks")
            }
            guard chunk.isCommand, let payload = try assembler.add(chunk) else { continue }
            let command: RTMPCommand
            do {
                command = try RTMPCommand(decoding: payload, amf3: chunk.typeID == RTMPMessageType.commandAMF3)
            } catch {
                throw .badCommand("\(error)")
            }
            if command.name == "publish", let start = messageStarts[chunk.csid] {
                routedCommand = RTMPRoutedCommand(
                    range: start.offset..<parsedIndex, singleChunk: start.single, csid: chunk.csid, timestamp: chunk.timestamp,
                    streamID: chunk.streamID, command: command)
            }
            try handle(command, context, replies: &replies)
        }
    }

    private func handle(_ command: RTMPCommand, _ context: ChannelHandlerContext, replies: inout ByteBuffer) throws(RTMPError) {
        switch command.name {
        case "connect":
            guard tcUrl == nil else { throw .commandOutOfOrder("a second connect") }
            guard let object = command.commandObject.object, let url = object["tcUrl"]?.string, !url.isEmpty else {
                RTMPReplies.connectRefused(transactionID: command.transactionID, description: "connect without tcUrl", into: &replies)
                throw .noStream("connect without tcUrl")
            }
            if let app = object["app"]?.string, !Self.sameApplication(tcUrl: url, app: app) {
                // nginx-rtmp names the stream by connect.app, SRS and the proxy by tcUrl: a client
                // whose two disagree would be authorised for one stream and publish another.
                RTMPReplies.connectRefused(transactionID: command.transactionID, description: "connect app and tcUrl disagree", into: &replies)
                throw .noStream("connect's app '\(app)' is not the application of its tcUrl '\(url)'")
            }
            tcUrl = url
            answered.insert(command.transactionID)
            RTMPReplies.connectAccepted(transactionID: command.transactionID, objectEncoding: object["objectEncoding"]?.number ?? 0, into: &replies)
        case "releaseStream", "FCPublish":
            guard tcUrl != nil else { throw .commandOutOfOrder("\(command.name) before connect") }
            answered.insert(command.transactionID)
            RTMPReplies.emptyResult(transactionID: command.transactionID, into: &replies)
        case "createStream":
            guard tcUrl != nil else { throw .commandOutOfOrder("createStream before connect") }
            answered.insert(command.transactionID)
            createStreamTransaction = command.transactionID
            RTMPReplies.streamCreated(transactionID: command.transactionID, into: &replies)
        case "publish", "play":
            guard let tcUrl else { throw .commandOutOfOrder("\(command.name) before connect") }
            guard let name = command.arguments.first?.string, !name.isEmpty else { throw .noStream("\(command.name) without a stream name") }
            let publishing = command.name == "publish"
            let request: StreamRequest
            do {
                request = try StreamRequest.rtmp(tcUrl: tcUrl, stream: name)
            } catch {
                RTMPReplies.streamError(
                    code: publishing ? "NetStream.Publish.BadName" : "NetStream.Play.StreamNotFound", description: "\(error)", into: &replies)
                throw .noStream("\(error)")
            }
            stage = .routing
            route(request, publishing: publishing, context)
        default:
            return  // _checkbw, getStreamLength, FCUnpublish, deleteStream...: nothing to answer before the backend exists
        }
    }

    // MARK: - Routing, dialling, relaying

    private func route(_ request: StreamRequest, publishing: Bool, _ context: ChannelHandlerContext) {
        logger[metadataKey: "stream"] = "\(request.key)"
        logger.debug("routing", metadata: ["mode": "\(publishing ? "publish" : "play")"])
        let session = StreamSession(request, role: publishing ? .publish : .play, client: client, needs: .rtmp, context: environment.sessions)
        self.session = session
        // Closed on request (the commands API): the client connection goes, and with it the
        // backend connection (the relay closes its partner; before the relay, cleanUp does).
        let clientChannel = context.channel
        session.onClose { _ in clientChannel.close(promise: nil) }
        let loop = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        session.open(on: eventLoop).whenComplete { result in
            let (handler, context) = loop.value
            switch result {
            case .success(let lease):
                handler.dial(lease, publishing: publishing, deadline: .now() + handler.settings.backendTimeout, context)
            case .failure(let error): handler.refuse(context, publishing: publishing, Self.cause(error))
            }
        }
    }

    /// What refused the session, in the terms RTMPRefusal counts.
    static func cause(_ error: any Error) -> any Error {
        switch error as? StreamSession.Refusal {
        case .denied(let why)?: RTMPError.publishDenied(why)
        case .playDenied(let why)?: RTMPError.playDenied(why)
        case .routing(let error)?: error
        default: error
        }
    }

    func relay(_ lease: RouteLease, leftover: ByteBuffer, publishing: Bool, _ context: ChannelHandlerContext) {
        guard stage == .routing, context.channel.isActive, let backend = backendChannel, let session else {
            cleanUp(reason: "client left while the backend was reached")
            return
        }
        stage = .relaying
        timeout?.cancel()
        let logger = self.logger
        let clientChannel = context.channel
        let setupTimeout = backend.eventLoop.scheduleTask(in: settings.backendTimeout) {
            logger.warning("backend did not start the stream in time")
            clientChannel.close(promise: nil)
        }
        let translator = RTMPBackendTranslator(
            answered: answered, createStreamTransaction: createStreamTransaction, limits: settings.limits, holdUntilMedia: holdForPublisher
        ) { outcome in
            setupTimeout.cancel()
            switch outcome {
            case .started(let code):
                logger.info("stream relayed", metadata: ["status": "\(code)"])
                session.started()
            case .refused(let why):
                logger.info("backend refused the stream", metadata: ["reason": "\(why)"])
            }
        }
        let glue = GlueHandler.matchedPair(counters: lease.counters, logger: logger, idleTimeout: settings.idleTimeout) { report in
            setupTimeout.cancel()
            session.end(reason: "relay closed: \(report.reason)")
        }
        // What the client sent after the routed command is read before it is replayed; from then
        // on the watch reads the client's commands as they pass.
        var scanner = RTMPChunkScanner(decoder: decoder, assembler: assembler)
        let refusals = environment.refusals
        do {
            let unparsed = stream.getSlice(at: stream.readerIndex + parsedIndex, length: stream.readableBytes - parsedIndex)!
            try RTMPCommandWatch.check(unparsed, with: &scanner)
        } catch {
            fail(context, error)
            return
        }
        let watch = RTMPCommandWatch(scanner: scanner, logger: logger) { error in
            if let refusal = RTMPRefusal(error) { refusals.increment(refusal) }
        }
        do {
            try backend.pipeline.syncOperations.addHandlers([translator, glue.backend])
            try context.pipeline.syncOperations.addHandlers([watch, glue.client], position: .after(self))
        } catch {
            fail(context, error)
            return
        }
        if holdForPublisher { tellNotFoundUnlessMedia(translator, session, client: clientChannel, backend: backend) }
        // Replay: every byte the client sent after its handshake, verbatim (but for the publish
        // command of a stream the hook renamed), then the splice takes over.
        let renamed = session.request
        if publishing, renamed.key != session.requested.key {
            let name = renamed.query.isEmpty ? renamed.key.stream : "\(renamed.key.stream)?\(renamed.query)"
            guard let routed = routedCommand, let replay = RTMPPublishRename.replay(stream, routed, name: name, chunkSize: decoder.chunkSize) else {
                return fail(context, RTMPError.noStream("a publish command split over chunks cannot be published under the channel's name"))
            }
            stream = replay
        }
        backend.writeAndFlush(stream, promise: nil)
        stream = ByteBuffer()
        if leftover.readableBytes > 0 { backend.pipeline.fireChannelRead(leftover) }
        self.session = nil
        self.backendChannel = nil
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    /// No media from the new origin within `registry.redispatch_wait`: no publisher holds the
    /// stream anywhere. The player gets NetStream.Play.StreamNotFound (it has seen nothing of the
    /// origin yet) and both connections close.
    private func tellNotFoundUnlessMedia(_ translator: RTMPBackendTranslator, _ session: StreamSession, client: any Channel, backend: any Channel) {
        let wait = environment.sessions.router.configuration.redispatchWait
        let refusals = environment.refusals
        let logger = logger
        let bound = NIOLoopBound(translator, eventLoop: backend.eventLoop)
        backend.eventLoop.scheduleTask(in: .nanoseconds(Int64(wait.components.seconds) * 1_000_000_000 + wait.components.attoseconds / 1_000_000_000)) {
            guard bound.value.stopHolding() else { return }
            let why = RoutingError.noStream(session.request.key)
            logger.warning("cannot relay the stream", metadata: ["error": "\(why)"])
            refusals.increment(.streamNotFound)
            session.endWithoutStream(reason: "\(why)")
            var out = client.allocator.buffer(capacity: 256)
            RTMPReplies.streamError(code: "NetStream.Play.StreamNotFound", description: "\(why)", into: &out)
            // Written before the backend closes: the splice closes the client with it.
            client.writeAndFlush(out).whenComplete { _ in
                backend.close(promise: nil)
                client.close(promise: nil)
            }
        }
    }

    func refuse(_ context: ChannelHandlerContext, publishing: Bool, _ error: any Error) {
        guard stage != .closed else { return }
        logger.warning("cannot relay the stream", metadata: ["error": "\(error)"])
        // What fails past the router is the dial or the backend's handshake.
        environment.refusals.increment(RTMPRefusal(error) ?? .backendUnreachable)
        var out = context.channel.allocator.buffer(capacity: 256)
        let code = publishing ? "NetStream.Publish.BadName" : "NetStream.Play.StreamNotFound"
        RTMPReplies.streamError(code: code, description: "\(error)", into: &out)
        stage = .closed
        timeout?.cancel()
        cleanUp(reason: "refused: \(error)", logged: true)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(out)).whenComplete { _ in channel.close(promise: nil) }
    }

    private func fail(_ context: ChannelHandlerContext, _ error: any Error) {
        guard stage != .closed else { return }
        logger.warning("closing connection", metadata: ["error": "\(error)"])
        if let refusal = RTMPRefusal(error) { environment.refusals.increment(refusal) }
        stage = .closed
        timeout?.cancel()
        cleanUp(reason: "\(error)", logged: true)
        context.close(promise: nil)
    }

    /// Ends what the connection holds before its relay exists: the backend connection being
    /// set up and the session (its lease, its end event), with why.
    func cleanUp(reason: String, logged: Bool = false) {
        if !logged, session != nil { logger.info("session ended before it was relayed", metadata: ["reason": "\(reason)"]) }
        timeout?.cancel()
        backendChannel?.close(promise: nil)
        backendChannel = nil
        session?.end(reason: reason)
        session = nil
    }
}
