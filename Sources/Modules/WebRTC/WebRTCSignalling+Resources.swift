import NIOCore
import NIOHTTP1
import ProxyCore

/// PATCH (trickle ICE) and DELETE of a session's resource, through any proxy: the resource
/// record names the backend's own Location.
extension WebRTCSignalling {
    func resource(_ request: SignallingRequest, id: Substring) async -> SignallingResponse {
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
        var headers = request.forwardedHeaders
        for name in ["content-type", "if-match"] {
            if let value = request.headers.first(name: name) { headers.add(name: name, value: value) }
        }
        if settings.forwardAuthorization, let auth = request.headers.first(name: "authorization") { headers.add(name: "Authorization", value: auth) }
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
