import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ProxyCore
import ProxyHTTP
import ProxyNet

/// The WHIP/WHEP and SRS signalling proxy: routes each offer's stream to its backend, forwards
/// the offer without the client's candidates to the backend's API, rewrites the answer to the
/// proxy's UDP port, records the session for the UDP side (of any proxy), and hands out a
/// proxy resource URL for PATCH and DELETE.
struct WebRTCSignalling: Sendable {
    struct Settings: Sendable {
        /// The address put in the rewritten answer's candidates (`*`: the request's Host).
        var candidate: String
        /// The proxy's UDP port, put in the rewritten answer's candidates.
        var udpPort: Int
        /// How long the backend's API may take to answer an offer, PATCH or DELETE.
        var backendTimeout: TimeAmount
        /// How long the session and resource records live in the registry without a refresh.
        var recordTTL: Duration
        var cors: CORSPolicy
        /// Pass the client's Authorization header on to the backend's API (off: the client's
        /// credentials for the proxy are not the origin's).
        var forwardAuthorization = false
        static let maxBody = 64 * 1024
    }

    enum Kind {
        case whip, whep, srsPublish, srsPlay

        /// The dialect of a request to this kind of endpoint.
        var dialect: any SignallingDialect {
            switch self {
            case .whip: WHIPDialect(role: .publish)
            case .whep: WHIPDialect(role: .play)
            case .srsPublish: SRSJSONDialect(role: .publish)
            case .srsPlay: SRSJSONDialect(role: .play)
            }
        }
    }

    var settings: Settings
    /// What every session's StreamSession shares (router, hooks, the module's identity).
    var sessions: StreamSession.Context
    var logger: Logger
    var relay: WebRTCRelay.Handle
    /// How many offers each client address may make (each costs a lease and a backend request).
    var offers = AddressRateLimiter(.init(rate: 10, burst: 20))
    var router: Router { sessions.router }

    func handle(_ request: SignallingRequest) async -> SignallingResponse {
        var response = await dispatch(request)
        response.headers += settings.cors.headers(for: request.headers, preflight: request.method == .OPTIONS && response.status == .noContent)
        if response.status.code >= 400 {
            logger.notice("signalling refused", metadata: [
                "method": "\(request.method)", "path": "\(request.path)", "client": "\(request.client)", "status": "\(response.status.code)",
                "error": "\(response.body.trimmingCharacters(in: .whitespacesAndNewlines))",
            ])
        }
        return response
    }

    /// What a signalling path names.
    enum Endpoint: Equatable {
        /// WHIP/WHEP (`streamPath` the part after `/rtc/v1/whip/`) or SRS's JSON API (empty).
        case offer(Kind, streamPath: String)
        /// A session's resource (PATCH, DELETE), by the proxy's id.
        case resource(id: Substring)

        var allow: String { if case .resource = self { "PATCH, DELETE, OPTIONS" } else { "POST, OPTIONS" } }
    }

    static func endpoint(_ path: String) -> Endpoint? {
        for (prefix, kind) in [("/rtc/v1/whip/", Kind.whip), ("/rtc/v1/whep/", .whep)] where path.hasPrefix(prefix) {
            return .offer(kind, streamPath: String(path.dropFirst(prefix.count)))
        }
        if path == "/rtc/v1/publish/" || path == "/rtc/v1/publish" { return .offer(.srsPublish, streamPath: "") }
        if path == "/rtc/v1/play/" || path == "/rtc/v1/play" { return .offer(.srsPlay, streamPath: "") }
        if path.hasPrefix(WebRTCResourceRecord.pathPrefix) { return .resource(id: path.dropFirst(WebRTCResourceRecord.pathPrefix.count)) }
        return nil
    }

    private func dispatch(_ request: SignallingRequest) async -> SignallingResponse {
        guard let endpoint = Self.endpoint(request.path) else {
            return .error(.notFound, "no such signalling endpoint: \(request.method) \(request.path)")
        }
        switch (request.method, endpoint) {
        case (.OPTIONS, _) where settings.cors.enabled:
            return SignallingResponse(status: .noContent, headers: [("Allow", endpoint.allow)])
        case (.POST, .offer(let kind, let streamPath)):
            guard offers.allow(Self.host(ofClient: request.client)) else {
                var refused = SignallingResponse.error(.tooManyRequests, "too many offers from this address; try again in a second")
                refused.headers.append(("Retry-After", "1"))
                return refused
            }
            return await offer(request, kind: kind, streamPath: streamPath)
        case (.PATCH, .resource(let id)), (.DELETE, .resource(let id)):
            return await resource(request, id: id)
        default:
            var refused = SignallingResponse.error(.methodNotAllowed, "\(request.method) is not served on \(request.path) (allowed: \(endpoint.allow))")
            refused.headers.append(("Allow", endpoint.allow))
            return refused
        }
    }

    // MARK: Offers

    private func offer(_ request: SignallingRequest, kind: Kind, streamPath: String) async -> SignallingResponse {
        do {
            return try await exchange(request, dialect: kind.dialect, streamPath: streamPath)
        } catch {
            return error.response
        }
    }

    /// One offer, whatever its dialect: the stream routed (publish hook, lease), the offer
    /// forwarded without the client's candidates, the answer rewritten to the proxy's UDP port,
    /// the session recorded for the UDP side of any proxy and handed to this proxy's relay.
    private func exchange(_ request: SignallingRequest, dialect: any SignallingDialect, streamPath: String) async throws(SignallingRefusal) -> SignallingResponse {
        var dialect = dialect
        let (stream, offerText) = try dialect.readOffer(request, streamPath: streamPath)
        let offer: SDPRewriter.Offer
        do {
            offer = try SDPRewriter.offer(offerText)
        } catch {
            throw SignallingRefusal(error == .tooLarge ? .payloadTooLarge : .badRequest, "offer: \(error)")
        }

        let session = StreamSession(stream, role: dialect.role, client: request.client, needs: .rtc, context: sessions)
        var lease: RouteLease
        do {
            lease = try await session.open()
        } catch {
            throw Self.refusal(error)
        }
        // Until the relay has it, the session ends with any refusal below.
        var handedOff = false
        defer { if !handedOff { session.end(reason: "signalling did not complete") } }

        guard var target = Self.backendTarget(request) else {
            throw SignallingRefusal(.badRequest, "the request path is not a plain signalling path (dot segments, encoded slashes or dots)")
        }
        // The publish hook renamed the stream (the coordinator's origin_name): the backend gets that name.
        let routed = session.request
        if routed.key != stream.key { target = dialect.rename(target: target, streamPath: streamPath, to: routed) }
        let (body, contentType) = dialect.backendBody(offer: offer.sdp)
        var headers = request.forwardedHeaders
        headers.add(name: "Content-Type", value: contentType)
        if settings.forwardAuthorization, let auth = request.headers.first(name: "authorization") { headers.add(name: "Authorization", value: auth) }
        // A backend that cannot be reached: the session is routed again (StreamSession.redispatch)
        // within the backend timeout, and the offer sent there.
        let deadline = ContinuousClock.now.advanced(by: .nanoseconds(settings.backendTimeout.nanoseconds))
        var answer: BackendHTTPExchange.Response
        while true {
            guard let api = lease.backend.address(for: .api) else {
                throw SignallingRefusal(.badGateway, "backend \(lease.backend.id) announces no api endpoint for WebRTC signalling")
            }
            do {
                answer = try await BackendHTTPExchange.send(
                    .POST, target, headers: headers, body: body, to: api, on: relay.loop, timeout: settings.backendTimeout
                ).get()
                break
            } catch let failure as BackendHTTPExchange.Failure {
                if case .timeout = failure { throw SignallingRefusal(.gatewayTimeout, "\(failure)") }
                guard case .connect = failure else { throw SignallingRefusal(.badGateway, "\(failure)") }
                guard ContinuousClock.now < deadline else {
                    session.endUnreachable(reason: "\(failure)")
                    throw SignallingRefusal(.badGateway, "\(failure)")
                }
                logger.warning("backend unreachable, routing the session again", metadata: ["backend": "\(lease.backend.id)", "error": "\(failure)"])
                do {
                    lease = try await session.redispatch(reason: "\(failure)", deadline: deadline)
                } catch {
                    throw Self.refusal(error)
                }
            } catch {
                throw SignallingRefusal(.badGateway, "\(error)")
            }
        }
        let backend = lease.backend

        guard let answerSDP = dialect.answerSDP(in: answer) else { return Self.passThrough(answer) }
        let proxy = SDPRewriter.ProxyAddress(host: candidateHost(request), port: settings.udpPort)
        let rewritten: SDPRewriter.Answer
        do {
            rewritten = try SDPRewriter.answer(answerSDP, backend: Self.addresses(of: backend), proxy: proxy)
        } catch {
            throw SignallingRefusal(.badGateway, "backend answer: \(error)")
        }

        let username = "\(rewritten.ufrag):\(offer.ufrag)"
        var resource: String?
        if dialect.hasResources, let location = answer.headers.first(name: "location") {
            let id = WebRTCResourceRecord.newID()
            let record = WebRTCResourceRecord(backend: backend.id.rawValue, location: Self.resolve(location, against: request.path), username: username)
            try await put(record.json, WebRTCResourceRecord.namespace, id)
            resource = id
        }
        let record = WebRTCSessionRecord(
            backend: backend.id.rawValue, ip: backend.ip, port: rewritten.backendPort, stream: routed.key, query: routed.query,
            role: dialect.role, resource: resource)
        try await put(record.json, WebRTCSessionRecord.namespace, username)
        handedOff = true
        relay.expect(username: username, record: record, stream: session, lease: lease)
        logger.info("signalled", metadata: [
            "stream": "\(stream.key)", "mode": "\(dialect.role.rawValue)", "client": "\(request.client)", "backend": "\(backend.id)",
            "backend_udp": "\(backend.ip):\(rewritten.backendPort)", "session": "\(username)",
            "candidates": "\(offer.removedCandidates) removed from the offer, \(rewritten.rewrittenCandidates) rewritten and \(rewritten.droppedCandidates) dropped in the answer",
        ])
        return dialect.response(sdp: rewritten.sdp, location: resource.map { WebRTCResourceRecord.pathPrefix + $0 }, backend: answer)
    }

    /// The answer to a session that could not be opened or routed again.
    private static func refusal(_ error: StreamSession.Refusal) -> SignallingRefusal {
        switch error {
        case .denied(let why): SignallingRefusal(.forbidden, "publish refused: \(why)")
        case .playDenied(let why): SignallingRefusal(.forbidden, "play refused: \(why)")
        // A player whose stream no publisher holds anywhere (after its backend could not be reached).
        case .routing(.noStream(let key)): SignallingRefusal(.notFound, "stream \(key) is not published")
        case .routing(let error): SignallingRefusal(.serviceUnavailable, "\(error)")
        case .ended(let why): SignallingRefusal(.serviceUnavailable, why)
        case .unreachable(let why): SignallingRefusal(.badGateway, "backend unreachable: \(why)")
        }
    }

    private func put(_ value: String, _ namespace: String, _ id: String) async throws(SignallingRefusal) {
        do {
            try await router.registry.putRecord(value, namespace: namespace, id: id, ttl: settings.recordTTL)
        } catch {
            throw SignallingRefusal(.serviceUnavailable, "registry: \(error)")
        }
    }

    /// The backend's status and body as they came (a WHEP 404 while nothing is published, say).
    private static func passThrough(_ answer: BackendHTTPExchange.Response) -> SignallingResponse {
        var headers: [(String, String)] = []
        if let type = answer.headers.first(name: "content-type") { headers.append(("Content-Type", type)) }
        return SignallingResponse(status: HTTPResponseStatus(statusCode: answer.status), headers: headers, body: SDPRewriter.stripCandidates(answer.text))
    }

    /// What the answer may call the backend: its ip, its rtc hosts and ports.
    static func addresses(of backend: Backend) -> SDPRewriter.BackendAddresses {
        let rtc = backend.endpoints[.rtc] ?? []
        return SDPRewriter.BackendAddresses(
            hosts: Set([backend.ip] + rtc.compactMap(\.dialHost).filter { $0 != "0.0.0.0" }), ports: Set(rtc.map(\.port)))
    }

    /// The address for the rewritten candidates: the configured one, or the host of the Host
    /// header the client used when it is a well-formed host name or IP literal, else the proxy's
    /// own address on the connection. (The Host value is the client's: it must never put
    /// anything but an address into the answer's SDP.)
    func candidateHost(_ request: SignallingRequest) -> String {
        if settings.candidate != "*" { return settings.candidate }
        return Self.host(ofHostHeader: request.host) ?? request.local ?? "127.0.0.1"
    }

    /// The target the offer is sent to at the backend's API: the client's own path and query
    /// when the path is a plain one (segments of unreserved characters, no `.` or `..` segment,
    /// no empty segment inside, no encoded `/`, `\\`, `.` or NUL), so the origin's router sees the
    /// same endpoint the proxy matched; nil otherwise (the request is refused).
    static func backendTarget(_ request: SignallingRequest) -> String? {
        let path = request.path
        guard path.hasPrefix("/rtc/v1/"), path.utf8.count <= 2048 else { return nil }
        let lowered = path.lowercased()
        for bad in ["%2e", "%2f", "%5c", "%00", "\\"] where lowered.contains(bad) { return nil }
        let segments = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        for (i, segment) in segments.enumerated() {
            if segment == "." || segment == ".." { return nil }
            if segment.isEmpty, i != segments.count - 1 { return nil }
            guard segment.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "?") && $0 != UInt8(ascii: "#") }) else { return nil }
        }
        let query = request.query
        guard query.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "#") }) else { return nil }
        return query.isEmpty ? path : path + "?" + query
    }

    /// The address part of a client's `ip:port` (`[v6]:port`).
    static func host(ofClient client: String) -> String {
        if client.hasPrefix("["), let close = client.firstIndex(of: "]") { return String(client[client.index(after: client.startIndex)..<close]) }
        return String(client.split(separator: ":").first ?? "")
    }

    /// The host of a Host header value (`name`, `name:port`, `1.2.3.4:port`, `[v6]:port`), or nil
    /// when it is not one: empty, a port only, characters outside a host name or IP literal.
    static func host(ofHostHeader value: String?) -> String? {
        guard let value, !value.isEmpty, value.utf8.count <= 300 else { return nil }
        let host: Substring
        if value.hasPrefix("[") {
            guard let close = value.firstIndex(of: "]") else { return nil }
            let rest = value[value.index(after: close)...]
            guard rest.isEmpty || (rest.first == ":" && rest.dropFirst().utf8.allSatisfy { (48...57).contains($0) }) else { return nil }
            host = value[value.index(after: value.startIndex)..<close]
            guard !host.isEmpty, host.utf8.allSatisfy({ $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") || isHex($0) }) else { return nil }
        } else {
            let parts = value.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            host = parts[0]
            if parts.count > 1, parts[1].isEmpty || !parts[1].utf8.allSatisfy({ (48...57).contains($0) }) { return nil }
            guard !host.isEmpty, host.utf8.count <= 253,
                host.utf8.allSatisfy({ isHostChar($0) }), host.first != "-", host.first != "."
            else { return nil }
        }
        return String(host)
    }

    private static func isHex(_ c: UInt8) -> Bool {
        (48...57).contains(c) || (97...102).contains(c | 0x20)
    }

    /// A letter, a digit, `-` or `.` (host names and IPv4 literals).
    private static func isHostChar(_ c: UInt8) -> Bool {
        (48...57).contains(c) || (97...122).contains(c | 0x20) || c == UInt8(ascii: "-") || c == UInt8(ascii: ".")
    }

    /// A Location (absolute URL, absolute path or relative path) as an origin-form target.
    static func resolve(_ location: String, against path: String) -> String {
        if let url = URLComponents(string: location), url.scheme != nil {
            // `http://host` and `http://host?q` have an empty path: the target is `/`, `/?q`.
            let path = url.percentEncodedPath.hasPrefix("/") ? url.percentEncodedPath : "/" + url.percentEncodedPath
            return path + (url.percentEncodedQuery.map { "?" + $0 } ?? "")
        }
        if location.hasPrefix("/") { return location }
        let base = path.hasSuffix("/") ? path : String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)]) + "/"
        return base + location
    }
}
