import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ProxyCore
import ProxyHTTP
import ProxyNet

/// The exchange with the backend: the request sent on a kept-alive or new connection, the response streamed to the client.
extension HTTPFLVSession {
    /// Sends the exchange's request to `address`, the response head due by `deadline` (the
    /// session's `backend_timeout` from the first attempt, when this is a redispatch).
    func forward(_ exchange: Exchange, to address: BackendAddress?, target: String, deadline: NIODeadline? = nil) {
        guard let context, let address else {
            return respond(.backendLacksProtocol, error: "the backend has no http endpoint")
        }
        var request = ProxyHeaders.backendRequest(exchange.head, target: target, clientIP: clientIP)
        if exchange.rewriter != nil && Self.fileExtension(exchange.head.path) == "m3u8" {
            // The rewritten playlist has other byte offsets: always fetch it whole.
            request.headers.remove(name: "range")
            request.headers.remove(name: "if-range")
        }
        let backendRequest = request
        let deadline = deadline ?? .now() + settings.backendTimeout
        let timeout = max(deadline - .now(), .milliseconds(1))
        let bound = NIOLoopBound((self, exchange), eventLoop: context.eventLoop)
        exchange.usesBackend = true
        exchange.timer?.cancel()
        exchange.timer = context.eventLoop.scheduleTask(deadline: deadline) {
            let (session, exchange) = bound.value
            session.backendTimedOut(exchange)
        }
        if let link, link.address == address, link.channel.isActive {
            link.handler.attach(self)
            send(backendRequest, on: link.channel)
            return
        }
        dropLink()
        BackendDialer.connect(to: address, on: context.eventLoop, timeout: timeout) { channel in
            channel.eventLoop.makeCompletedFuture {
                // One read per readiness event: the client's write queue is checked between reads,
                // so at most one read buffer is queued beyond the write watermark per player.
                try channel.syncOptions?.setOption(.maxMessagesPerRead, value: 1)
                try channel.syncOptions?.setOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 2048, maximum: 262_144))
                try channel.pipeline.syncOperations.addHTTPClientHandlers(leftOverBytesStrategy: .fireError)
                try channel.pipeline.syncOperations.addHandler(HTTPBackendHandler(delegate: bound.value.0))
            }
        }.whenComplete { result in
            let (session, exchange) = bound.value
            switch result {
            case .failure(let error):
                guard session.exchange === exchange else { return }
                session.redispatch(exchange, after: "backend \(address) unreachable: \(error)", target: target, deadline: deadline)
            case .success(let channel):
                guard session.exchange === exchange, !session.closed else {
                    channel.close(promise: nil)
                    return
                }
                guard let handler = try? channel.pipeline.syncOperations.handler(type: HTTPBackendHandler.self) else {
                    channel.close(promise: nil)
                    return
                }
                session.link = BackendLink(channel: channel, address: address, handler: handler)
                session.send(backendRequest, on: channel)
            }
        }
    }

    /// The backend of a live stream could not be reached: the stream's session is routed
    /// again and the request forwarded there, or refused when no other backend or no time is
    /// left (an HLS session stays where its state is: refused at once).
    func redispatch(_ exchange: Exchange, after why: String, target: String, deadline: NIODeadline) {
        guard let stream = exchange.stream, let loop = context?.eventLoop, NIODeadline.now() < deadline else {
            exchange.stream?.endUnreachable(reason: why)
            return respond(.backendUnreachable, error: why)
        }
        log(.warning, "backend unreachable, routing the request again: \(why)")
        let bound = NIOLoopBound((self, exchange), eventLoop: loop)
        stream.redispatch(reason: why, deadline: deadline, on: loop).whenComplete { result in
            let (session, exchange) = bound.value
            guard session.exchange === exchange, !session.closed else { return }
            switch result {
            case .success(let lease):
                exchange.lease = lease
                session.relay(exchange, lease: lease, target: target, deadline: deadline)
            // A player whose stream no publisher holds anywhere: 404.
            case .failure(StreamSession.Refusal.routing(let error)): session.respond(HTTPRefusal(routing: error), error: "\(error)")
            case .failure: session.respond(.backendUnreachable, error: why)
            }
        }
    }

    func send(_ request: HTTPRequestHead, on channel: any Channel) {
        channel.write(HTTPClientRequestPart.head(request), promise: nil)
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
    }

    func backendTimedOut(_ exchange: Exchange) {
        guard self.exchange === exchange, !exchange.headSent, exchange.pendingHead == nil else { return }
        dropLink()
        respond(.backendTimeout, error: "backend sent no response head within \(settings.backendTimeout.nanoseconds / 1_000_000) ms")
    }

    func backendResponseHead(_ head: HTTPResponseHead) {
        guard let exchange, exchange.usesBackend else { return }
        exchange.timer?.cancel()
        watchStall(exchange)
        exchange.streamMissing = head.status == .notFound
        // The backend took the player: play_start (an HLS session reports its own).
        if (200..<300).contains(head.status.code) { exchange.stream?.started() }
        exchange.backendKeepAlive = head.isKeepAlive
        let isPlaylist = exchange.rewriter != nil && head.status == .ok
            && (Self.fileExtension(exchange.head.path) == "m3u8" || (head.headers.first(name: "content-type")?.lowercased().contains("mpegurl") ?? false))
        if isPlaylist && !exchange.isHEAD {
            exchange.pendingHead = head
            exchange.playlist = context?.channel.allocator.buffer(capacity: 4096)
            return
        }
        var out = clientHead(from: head, exchange: exchange)
        if let rewriter = exchange.rewriter, (300..<400).contains(head.status.code), let location = head.headers.first(name: "location") {
            out.headers.replaceOrAdd(name: "Location", value: rewriter.rewriteURI(location))
        }
        // A live stream without a length (it ends when the publisher does): the body goes to the
        // player as it came out of the decoder, without chunk framing, ended by closing.
        if exchange.stream != nil, !exchange.isHEAD, head.status == .ok, !head.headers.contains(name: "content-length"), writeRawHead(out, exchange: exchange) {
            return
        }
        writeHead(out, exchange: exchange)
    }

    func backendResponseBody(_ body: ByteBuffer) {
        guard let exchange, exchange.usesBackend, !exchange.isHEAD else { return }
        exchange.bytesFromBackend &+= UInt64(body.readableBytes)
        if var playlist = exchange.playlist {
            guard playlist.readableBytes + body.readableBytes <= settings.maxPlaylistSize else {
                dropLink()
                return respond(.backendBadResponse, error: "backend playlist larger than max_playlist_size (\(settings.maxPlaylistSize) bytes)")
            }
            var body = body
            exchange.playlist = nil  // one owner while it grows: the write does not copy
            playlist.writeBuffer(&body)
            exchange.playlist = playlist
            return
        }
        exchange.bytesToClient &+= UInt64(body.readableBytes)
        exchange.lease?.counters.addToClient(body.readableBytes)
        if rawBody {
            context?.write(NIOAny(body), promise: nil)
        } else {
            context?.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        }
    }

    func backendReadComplete() {
        context?.flush()
    }

    func backendResponseEnd() {
        guard let exchange, exchange.usesBackend, let context else { return }
        exchange.timer?.cancel()
        exchange.stallCheck?.cancel()
        exchange.backendDone = true
        if !exchange.backendKeepAlive { dropLink() }
        if let head = exchange.pendingHead, let playlist = exchange.playlist, let rewriter = exchange.rewriter {
            let text = String(buffer: playlist)
            guard HLSPlaylistRewriter.isPlaylist(Substring(text)) else {
                return respond(.backendBadResponse, error: "backend answered a playlist request with something that is not a playlist")
            }
            guard let rewritten = rewriter.rewrite(text, limit: settings.maxPlaylistSize) else {
                return respond(.backendBadResponse, error: "the rewritten playlist would be larger than max_playlist_size (\(settings.maxPlaylistSize) bytes)")
            }
            var out = clientHead(from: head, exchange: exchange)
            let body = context.channel.allocator.buffer(string: rewritten)
            out.headers.remove(name: "content-length")
            out.headers.add(name: "Content-Length", value: "\(body.readableBytes)")
            exchange.lease?.counters.addToClient(body.readableBytes)
            exchange.bytesToClient &+= UInt64(body.readableBytes)
            writeHead(out, exchange: exchange)
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        }
        if exchange.isHEAD || rawBody {
            // The encoder cannot tell a HEAD response has no body; a raw body ends by closing.
            closeAfterResponse = true
            context.flush()
            return finish(exchange, reason: "response complete")
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        finish(exchange, reason: "response complete")
    }

    /// Ends the response when its body stalls: no byte from the backend within
    /// `backendStallTimeout` (checked from the byte count once per interval, nothing per body
    /// part), whether the backend stopped sending or the player stopped reading.
    private func watchStall(_ exchange: Exchange) {
        guard let context, exchange.stallCheck == nil else { return }
        let interval = settings.backendStallTimeout
        let bound = NIOLoopBound((self, exchange), eventLoop: context.eventLoop)
        exchange.stallCheck = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { task in
            let (session, exchange) = bound.value
            guard session.exchange === exchange, !exchange.backendDone else { return task.cancel() }
            defer { exchange.bytesAtStallCheck = exchange.bytesFromBackend }
            guard exchange.bytesFromBackend == exchange.bytesAtStallCheck else { return }
            task.cancel()
            // Backend reads are held while the player does not read: then it is the player that stalled.
            let seconds = interval.nanoseconds / 1_000_000_000
            session.backendFailed(session.clientWritable ? "backend sent no byte for \(seconds) s" : "player read nothing for \(seconds) s")
        }
    }

    func backendFailed(_ reason: String) {
        guard let exchange, exchange.usesBackend, !exchange.backendDone else {
            dropLink()  // an idle kept-alive connection went away
            return
        }
        exchange.timer?.cancel()
        dropLink()
        if exchange.headSent {
            log(.info, "backend ended the response early: \(reason)", ["bytes_to_client": "\(exchange.bytesToClient)"])
            closeAfterResponse = true
            finish(exchange, reason: reason)
        } else {
            respond(.backendBadResponse, error: reason)
        }
    }

    func clientHead(from head: HTTPResponseHead, exchange: Exchange) -> HTTPResponseHead {
        var headers = ProxyHeaders.clientResponseHeaders(head.headers, dropCORS: settings.cors.enabled)
        settings.cors.apply(to: &headers)
        if closeAfterResponse || exchange.isHEAD { headers.replaceOrAdd(name: "Connection", value: "close") }
        let version: HTTPVersion = exchange.head.minorVersion == 0 ? .http1_0 : .http1_1
        return HTTPResponseHead(version: version, status: head.status, headers: headers)
    }

    /// Writes `head` as bytes and takes the response encoder out: the body that follows is
    /// written as it is and ends when the connection closes (`Connection: close`, no length,
    /// no chunking). The connection's last response: a live stream or a fan-out player.
    func writeRawHead(_ head: HTTPResponseHead, exchange: Exchange) -> Bool {
        guard let context, let encoder = try? context.pipeline.syncOperations.context(handlerType: HTTPResponseEncoder.self) else { return false }
        var head = head
        head.headers.remove(name: "content-length")
        head.headers.remove(name: "transfer-encoding")
        head.headers.remove(name: "keep-alive")
        head.headers.replaceOrAdd(name: "Connection", value: "close")
        closeAfterResponse = true
        context.pipeline.syncOperations.removeHandler(context: encoder, promise: nil)
        rawBody = true
        exchange.headSent = true
        context.write(NIOAny(Self.serialize(head, allocator: context.channel.allocator)), promise: nil)
        return true
    }

    func writeHead(_ head: HTTPResponseHead, exchange: Exchange) {
        exchange.headSent = true
        if head.version == .http1_0 && head.headers.first(name: "content-length") == nil {
            closeAfterResponse = true  // HTTP/1.0 without a length: the body ends with the connection
        }
        context?.write(wrapOutboundOut(.head(head)), promise: nil)
    }
}
