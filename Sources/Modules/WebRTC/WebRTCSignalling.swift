import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ProxyCore
import ProxyNet

/// One signalling request as the HTTP handler gathered it (head and whole body, capped).
struct SignallingRequest: Sendable {
    var method: HTTPMethod
    var uri: String
    var headers: HTTPHeaders
    var body: ByteBuffer
    var client: String
    /// The proxy's own address on this connection (the candidate when no Host header names one).
    var local: String?

    var path: String { String(uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0]) }
    var query: String {
        let parts = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        return parts.count > 1 ? String(parts[1]) : ""
    }
    var host: String? { headers.first(name: "host") }
}

/// An answer to the client.
struct SignallingResponse: Sendable {
    var status: HTTPResponseStatus
    var headers: [(String, String)] = []
    var body: String = ""

    static func error(_ status: HTTPResponseStatus, _ message: String) -> SignallingResponse {
        let escaped = String(data: (try? JSONSerialization.data(withJSONObject: [message], options: [])) ?? Data("[\"\"]".utf8), encoding: .utf8) ?? "[\"\"]"
        return SignallingResponse(
            status: status, headers: [("Content-Type", "application/json")],
            body: "{\"code\":\(status.code),\"error\":\(escaped.dropFirst().dropLast())}\n")
    }
}

/// The WHIP/WHEP and SRS signalling proxy: routes each offer's stream to its backend, forwards
/// the offer without the client's candidates to the backend's API, rewrites the answer to the
/// proxy's UDP port, records the session for the UDP side (of any proxy), and hands out a
/// proxy resource URL for PATCH and DELETE.
struct WebRTCSignalling: Sendable {
    struct Settings: Sendable {
        var candidate: String
        var udpPort: Int
        var backendTimeout: TimeAmount
        var recordTTL: Duration
        var module: String
        var cors: SignallingCORS
        static let maxBody = 64 * 1024
    }

    enum Kind {
        case whip, whep, srsPublish, srsPlay

        var mode: WebRTCSessionRecord.Mode { self == .whip || self == .srsPublish ? .publish : .play }
    }

    var settings: Settings
    var router: Router
    var hooks: any ProxyHooks
    var logger: Logger
    var relay: WebRTCRelay

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

    private struct Refusal: Error {
        var response: SignallingResponse
        init(_ status: HTTPResponseStatus, _ message: String) { response = .error(status, message) }
    }

    private func offer(_ request: SignallingRequest, kind: Kind, streamPath: String) async -> SignallingResponse {
        do {
            return try await exchange(request, kind: kind, streamPath: streamPath)
        } catch let refusal as Refusal {
            return refusal.response
        } catch {
            return .error(.internalServerError, "\(error)")
        }
    }

    private func exchange(_ request: SignallingRequest, kind: Kind, streamPath: String) async throws -> SignallingResponse {
        let text = String(buffer: request.body)
        // SRS's JSON API carries the stream URL and the offer inside a JSON object.
        var json: [String: Any] = [:]
        let offerText: String
        let stream: StreamRequest
        switch kind {
        case .whip, .whep:
            offerText = text
            let q = QueryString(request.query)
            guard (q.value("stream").map { !$0.isEmpty } ?? false) || !streamPath.isEmpty else {
                throw Refusal(.badRequest, "no stream: give ?app=&stream= or /rtc/v1/\(kind == .whip ? "whip" : "whep")/<app>/<stream>")
            }
            do {
                stream = try StreamRequest.http(host: request.host, path: "/" + streamPath, query: request.query)
            } catch {
                throw Refusal(.badRequest, "bad stream name: \(error)")
            }
        case .srsPublish, .srsPlay:
            guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
                throw Refusal(.badRequest, "the body is not a JSON object")
            }
            json = object
            guard let url = object["streamurl"] as? String, let sdp = object["sdp"] as? String else {
                throw Refusal(.badRequest, "the JSON body needs streamurl and sdp strings")
            }
            offerText = sdp
            stream = try Self.streamRequest(fromStreamURL: url)
        }
        let offer: SDPRewriter.Offer
        do {
            offer = try SDPRewriter.offer(offerText)
        } catch {
            throw Refusal(error == .tooLarge ? .payloadTooLarge : .badRequest, "offer: \(error)")
        }

        if kind.mode == .publish {
            let event = StreamEvent(kind: .publishStart, request: stream, module: settings.module, client: request.client)
            if case .deny(let why) = await hooks.authorizePublish(event) { throw Refusal(.forbidden, "publish refused: \(why)") }
        }
        let lease: RouteLease
        do {
            lease = try await router.acquire(stream, needs: .rtc, role: kind.mode == .publish ? .publish : .play, client: request.client)
        } catch {
            throw Refusal(.serviceUnavailable, "\(error)")
        }
        var handedOff = false
        defer { if !handedOff { Task { await lease.release() } } }
        let backend = lease.backend
        guard let api = backend.address(for: .api) else {
            throw Refusal(.badGateway, "backend \(backend.id) announces no api endpoint for WebRTC signalling")
        }

        var forwarded = ByteBuffer()
        var headers = HTTPHeaders()
        switch kind {
        case .whip, .whep:
            forwarded.writeString(offer.sdp)
            headers.add(name: "Content-Type", value: "application/sdp")
        case .srsPublish, .srsPlay:
            json["sdp"] = offer.sdp
            forwarded.writeBytes((try? JSONSerialization.data(withJSONObject: json)) ?? Data())
            headers.add(name: "Content-Type", value: "application/json")
        }
        if let auth = request.headers.first(name: "authorization") { headers.add(name: "Authorization", value: auth) }
        let answer: BackendHTTPExchange.Response
        do {
            answer = try await BackendHTTPExchange.send(
                .POST, request.uri, headers: headers, body: forwarded, to: api, on: relay.loop, timeout: settings.backendTimeout
            ).get()
        } catch let failure as BackendHTTPExchange.Failure {
            if case .connect = failure {
                handedOff = true
                await lease.reportUnreachable("\(failure)")
            }
            if case .timeout = failure { throw Refusal(.gatewayTimeout, "\(failure)") }
            throw Refusal(.badGateway, "\(failure)")
        }

        let answerSDP: String
        switch kind {
        case .whip, .whep:
            guard answer.status == 201 || answer.status == 200 else { return Self.passThrough(answer) }
            answerSDP = answer.text
        case .srsPublish, .srsPlay:
            guard answer.status == 200, let object = try? JSONSerialization.jsonObject(with: Data(answer.text.utf8)) as? [String: Any],
                (object["code"] as? Int) == 0, let sdp = object["sdp"] as? String
            else { return Self.passThrough(answer) }
            json = object
            answerSDP = sdp
        }
        let proxy = SDPRewriter.ProxyAddress(host: candidateHost(request), port: settings.udpPort)
        let rewritten: SDPRewriter.Answer
        do {
            rewritten = try SDPRewriter.answer(answerSDP, backend: Self.addresses(of: backend), proxy: proxy)
        } catch {
            throw Refusal(.badGateway, "backend answer: \(error)")
        }

        let username = "\(rewritten.ufrag):\(offer.ufrag)"
        var resource: String?
        if kind == .whip || kind == .whep, let location = answer.headers.first(name: "location") {
            resource = WebRTCResourceRecord.newID()
            let record = WebRTCResourceRecord(backend: backend.id.rawValue, location: Self.resolve(location, against: request.path), username: username)
            try await put(record.json, WebRTCResourceRecord.namespace, resource!)
        }
        let record = WebRTCSessionRecord(
            backend: backend.id.rawValue, ip: backend.ip, port: rewritten.backendPort, stream: stream.key, query: stream.query,
            mode: kind.mode, resource: resource)
        try await put(record.json, WebRTCSessionRecord.namespace, username)
        handedOff = true
        relay.expect(username: username, record: record, lease: lease)
        logger.info("signalled", metadata: [
            "stream": "\(stream.key)", "mode": "\(kind.mode.rawValue)", "client": "\(request.client)", "backend": "\(backend.id)",
            "backend_udp": "\(backend.ip):\(rewritten.backendPort)", "session": "\(username)",
            "candidates": "\(offer.removedCandidates) removed from the offer, \(rewritten.rewrittenCandidates) rewritten and \(rewritten.droppedCandidates) dropped in the answer",
        ])

        switch kind {
        case .whip, .whep:
            var out = SignallingResponse(status: .created, headers: [("Content-Type", "application/sdp")], body: rewritten.sdp)
            if let resource { out.headers.append(("Location", WebRTCResourceRecord.pathPrefix + resource)) }
            if let etag = answer.headers.first(name: "etag") { out.headers.append(("ETag", etag)) }
            return out
        case .srsPublish, .srsPlay:
            json["sdp"] = rewritten.sdp
            let body = (try? JSONSerialization.data(withJSONObject: json)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
            return SignallingResponse(status: .ok, headers: [("Content-Type", "application/json")], body: body)
        }
    }

    private func put(_ value: String, _ namespace: String, _ id: String) async throws {
        do {
            try await router.registry.putRecord(value, namespace: namespace, id: id, ttl: settings.recordTTL)
        } catch {
            throw Refusal(.serviceUnavailable, "registry: \(error)")
        }
    }

    /// `webrtc://host[:port]/app/stream[?query]` as SRS's players send it.
    static func streamRequest(fromStreamURL url: String) throws -> StreamRequest {
        guard url.utf8.count <= 4096, let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            scheme == "webrtc" || scheme == "http" || scheme == "https"
        else {
            throw Refusal(.badRequest, "streamurl must look like webrtc://host/app/stream")
        }
        do {
            return try StreamRequest.http(host: components.host, path: components.percentEncodedPath, query: components.percentEncodedQuery ?? "")
        } catch {
            throw Refusal(.badRequest, "bad stream name in streamurl: \(error)")
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

    /// The address for the rewritten candidates: the configured one, or the Host the client used.
    func candidateHost(_ request: SignallingRequest) -> String {
        if settings.candidate != "*" { return settings.candidate }
        if let host = request.host, !host.isEmpty {
            if host.hasPrefix("["), let close = host.firstIndex(of: "]") { return String(host[host.index(after: host.startIndex)..<close]) }
            return String(host.split(separator: ":", maxSplits: 1)[0])
        }
        return request.local ?? "127.0.0.1"
    }

    /// A Location (absolute URL, absolute path or relative path) as an origin-form target.
    static func resolve(_ location: String, against path: String) -> String {
        if let url = URLComponents(string: location), url.scheme != nil {
            return url.percentEncodedPath + (url.percentEncodedQuery.map { "?" + $0 } ?? "")
        }
        if location.hasPrefix("/") { return location }
        let base = path.hasSuffix("/") ? path : String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)]) + "/"
        return base + location
    }

    // MARK: Resources (PATCH, DELETE)

    private func resource(_ request: SignallingRequest, id: Substring) async -> SignallingResponse {
        guard WebRTCResourceRecord.isValidID(id) else { return .error(.notFound, "no such WebRTC resource") }
        let registry = router.registry
        let text: String?
        let alive: [Backend]
        do {
            text = try await registry.record(namespace: WebRTCResourceRecord.namespace, id: String(id))
            alive = try await registry.aliveBackends()
        } catch {
            return .error(.serviceUnavailable, "registry: \(error)")
        }
        guard let text, let record = WebRTCResourceRecord.decode(text) else { return .error(.notFound, "no such WebRTC resource (ended or expired)") }
        if request.method == .DELETE {
            relay.close(username: record.username)
            try? await registry.deleteRecord(namespace: WebRTCResourceRecord.namespace, id: String(id))
            try? await registry.deleteRecord(namespace: WebRTCSessionRecord.namespace, id: record.username)
        }
        guard let backend = alive.first(where: { $0.id.rawValue == record.backend }), let api = backend.address(for: .api) else {
            return request.method == .DELETE ? SignallingResponse(status: .ok) : .error(.badGateway, "the resource's backend \(record.backend) is gone")
        }
        var headers = HTTPHeaders()
        for name in ["content-type", "if-match", "authorization"] {
            if let value = request.headers.first(name: name) { headers.add(name: name, value: value) }
        }
        var body: ByteBuffer?
        if request.method == .PATCH {
            // Trickled client candidates must not reach the backend either.
            body = ByteBuffer(string: SDPRewriter.stripCandidates(String(buffer: request.body)))
        }
        do {
            let answer = try await BackendHTTPExchange.send(
                request.method, record.location, headers: headers, body: body, to: api, on: relay.loop, timeout: settings.backendTimeout
            ).get()
            var out = SignallingResponse(status: HTTPResponseStatus(statusCode: answer.status))
            if let type = answer.headers.first(name: "content-type") { out.headers.append(("Content-Type", type)) }
            if let etag = answer.headers.first(name: "etag") { out.headers.append(("ETag", etag)) }
            out.body = SDPRewriter.stripCandidates(answer.text)
            if answer.body.readableBytes == 0 { out.body = "" }
            return out
        } catch {
            return .error(.badGateway, "\(error)")
        }
    }
}
