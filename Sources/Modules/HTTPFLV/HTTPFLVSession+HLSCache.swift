import Logging
import NIOCore
import NIOHTTP1
import ProxyCore
import ProxyHTTP
import ProxyNet

/// HLS requests of a session answered through the module's cache (HLSCache): one origin fetch
/// per object per proxy, concurrent misses coalesced; playlists rewritten per player as always.
extension HTTPFLVSession {
    /// Whether `exchange` goes through the cache: a GET without `Range` when the cache is on.
    func usesHLSCache(_ exchange: Exchange) -> Bool {
        env.hlsCache != nil && !exchange.isHEAD && !Self.hasRange(exchange.head)
    }

    func fetchThroughCache(_ exchange: Exchange, origin: BackendAddress, target: String) {
        guard let pair = env.hlsCache else { return }
        let (cache, fetcher) = pair
        let head = exchange.head
        let isPlaylist = Self.fileExtension(head.path) == "m3u8"
        let query = Self.originForm(head, droppingSession: true).split(separator: "?", maxSplits: 1).dropFirst().first.map(String.init) ?? ""
        let key = HLSCache.key(origin: origin, path: head.path, query: query, isPlaylist: isPlaylist)
        let request = ProxyHeaders.backendRequest(head, target: target, clientIP: clientIP)
        whenDone({ try await cache.object(key) { try await fetcher.fetch(request, from: origin, isPlaylist: isPlaylist) } }) { session, result in
            guard session.exchange === exchange, !session.closed else { return }
            switch result {
            case .success(let (object, _)):
                session.respondCached(object, exchange: exchange)
            case .failure(HLSOriginFetcher.Failure.tooLarge):
                session.forward(exchange, to: origin, target: target)
            case .failure(HLSOriginFetcher.Failure.timeout(let why)):
                session.respond(.backendTimeout, error: why)
            case .failure(let error):
                session.respond(.backendUnreachable, error: "\(error)")
            }
        }
    }

    /// A whole object from the cache (or the fetch this request waited for), to this player.
    func respondCached(_ object: HLSCache.Object, exchange: Exchange) {
        guard let context else { return }
        var body = object.body
        if object.isPlaylist, object.status == .ok, let rewriter = exchange.rewriter {
            let text = String(buffer: object.body)
            guard HLSPlaylistRewriter.isPlaylist(Substring(text)) else {
                return respond(.backendBadResponse, error: "backend answered a playlist request with something that is not a playlist")
            }
            guard let rewritten = rewriter.rewrite(text, limit: settings.maxPlaylistSize) else {
                return respond(.backendBadResponse, error: "the rewritten playlist would be larger than max_playlist_size (\(settings.maxPlaylistSize) bytes)")
            }
            body = context.channel.allocator.buffer(string: rewritten)
        }
        var head = clientHead(from: HTTPResponseHead(version: .http1_1, status: object.status, headers: object.headers), exchange: exchange)
        head.headers.replaceOrAdd(name: "Content-Length", value: "\(body.readableBytes)")
        if let rewriter = exchange.rewriter, (300..<400).contains(object.status.code), let location = object.headers.first(name: "location") {
            head.headers.replaceOrAdd(name: "Location", value: rewriter.rewriteURI(location))
        }
        exchange.bytesToClient &+= UInt64(body.readableBytes)
        exchange.lease?.counters.addToClient(body.readableBytes)
        writeHead(head, exchange: exchange)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        finish(exchange, reason: "response complete")
    }
}
