import Foundation
import NIOCore
import ProxyCore

/// How one signalling dialect carries an offer and its answer; WebRTCSignalling runs the same
/// steps for both (route, strip the offer, forward, rewrite the answer, record the session).
protocol SignallingDialect {
    /// Publish (WHIP, `/rtc/v1/publish/`) or play (WHEP, `/rtc/v1/play/`).
    var role: SessionRole { get }
    /// Whether the backend's `Location` names a resource for later PATCH and DELETE.
    var hasResources: Bool { get }
    /// The stream and the SDP offer of the client's request.
    mutating func readOffer(_ request: SignallingRequest, streamPath: String) throws(SignallingRefusal) -> (stream: StreamRequest, sdp: String)
    /// The body for the backend, carrying `sdp` (the offer without the client's candidates).
    func backendBody(offer sdp: String) -> (body: ByteBuffer, contentType: String)
    /// The answer SDP in the backend's response; nil when the backend did not answer with one
    /// (its response is then passed through).
    mutating func answerSDP(in answer: BackendHTTPExchange.Response) -> String?
    /// The client's answer, carrying the rewritten SDP and the proxy's resource path.
    func response(sdp: String, location: String?, backend answer: BackendHTTPExchange.Response) -> SignallingResponse
    /// The backend request's target (path and query) and body name `stream` instead of the
    /// client's (the publish hook renamed it); `target` is the client's target.
    mutating func rename(target: String, streamPath: String, to stream: StreamRequest) -> String
}

/// WHIP and WHEP (RFC 9725, draft-ietf-wish-whep): the body is the SDP; 201 with a Location.
struct WHIPDialect: SignallingDialect {
    let role: SessionRole
    var hasResources: Bool { true }

    func readOffer(_ request: SignallingRequest, streamPath: String) throws(SignallingRefusal) -> (stream: StreamRequest, sdp: String) {
        let q = QueryString(request.query)
        guard (q.value("stream").map { !$0.isEmpty } ?? false) || !streamPath.isEmpty else {
            throw SignallingRefusal(.badRequest, "no stream: give ?app=&stream= or /rtc/v1/\(role == .publish ? "whip" : "whep")/<app>/<stream>")
        }
        do {
            return (try StreamRequest.http(host: request.host, path: "/" + streamPath, query: request.query), String(buffer: request.body))
        } catch {
            throw SignallingRefusal(.badRequest, "bad stream name: \(error)")
        }
    }

    func backendBody(offer sdp: String) -> (body: ByteBuffer, contentType: String) {
        (ByteBuffer(string: sdp), "application/sdp")
    }

    func answerSDP(in answer: BackendHTTPExchange.Response) -> String? {
        answer.status == 201 || answer.status == 200 ? answer.text : nil
    }

    /// `/rtc/v1/whip/<app>/<stream>` gets the new path tail; `?app=&stream=` the new values.
    func rename(target: String, streamPath: String, to stream: StreamRequest) -> String {
        let (path, query) = target.firstIndex(of: "?").map { (String(target[..<$0]), String(target[target.index(after: $0)...])) } ?? (target, "")
        let name = "\(stream.key.app)/\(stream.key.stream)"
        if !streamPath.isEmpty, path.hasSuffix(streamPath) {
            let renamed = String(path.dropLast(streamPath.count)) + name
            return query.isEmpty ? renamed : renamed + "?" + query
        }
        let items = query.split(separator: "&", omittingEmptySubsequences: false).map { item -> String in
            if item.hasPrefix("stream=") { return "stream=\(stream.key.stream)" }
            if item.hasPrefix("app=") { return "app=\(stream.key.app)" }
            return String(item)
        }
        return path + "?" + items.joined(separator: "&")
    }

    func response(sdp: String, location: String?, backend answer: BackendHTTPExchange.Response) -> SignallingResponse {
        var out = SignallingResponse(status: .created, headers: [("Content-Type", "application/sdp")], body: sdp)
        if let location { out.headers.append(("Location", location)) }
        if let etag = answer.headers.first(name: "etag") { out.headers.append(("ETag", etag)) }
        return out
    }
}

/// SRS's JSON API (`/rtc/v1/publish/`, `/rtc/v1/play/`): `{"streamurl": ..., "sdp": offer}` in,
/// `{"code": 0, "sdp": answer, ...}` out; every other field passes through both ways.
struct SRSJSONDialect: SignallingDialect {
    let role: SessionRole
    var hasResources: Bool { false }
    /// The client's object (forwarded with its `sdp` replaced), then the backend's (returned so).
    private var json: [String: Any] = [:]

    init(role: SessionRole) {
        self.role = role
    }

    mutating func readOffer(_ request: SignallingRequest, streamPath: String) throws(SignallingRefusal) -> (stream: StreamRequest, sdp: String) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(String(buffer: request.body).utf8)) as? [String: Any] else {
            throw SignallingRefusal(.badRequest, "the body is not a JSON object")
        }
        guard let url = object["streamurl"] as? String, let sdp = object["sdp"] as? String else {
            throw SignallingRefusal(.badRequest, "the JSON body needs streamurl and sdp strings")
        }
        json = object
        return (try Self.streamRequest(fromStreamURL: url), sdp)
    }

    /// The body's `streamurl` gets the new path; the target is the API path, unchanged.
    mutating func rename(target: String, streamPath: String, to stream: StreamRequest) -> String {
        if let url = json["streamurl"] as? String, var components = URLComponents(string: url) {
            components.percentEncodedPath = "/\(stream.key.app)/\(stream.key.stream)"
            json["streamurl"] = components.string ?? url
        }
        return target
    }

    func backendBody(offer sdp: String) -> (body: ByteBuffer, contentType: String) {
        var forwarded = json
        forwarded["sdp"] = sdp
        return (ByteBuffer(bytes: (try? JSONSerialization.data(withJSONObject: forwarded)) ?? Data()), "application/json")
    }

    mutating func answerSDP(in answer: BackendHTTPExchange.Response) -> String? {
        guard answer.status == 200, let object = try? JSONSerialization.jsonObject(with: Data(answer.text.utf8)) as? [String: Any],
            (object["code"] as? Int) == 0, let sdp = object["sdp"] as? String
        else { return nil }
        json = object
        return sdp
    }

    func response(sdp: String, location: String?, backend answer: BackendHTTPExchange.Response) -> SignallingResponse {
        var out = json
        out["sdp"] = sdp
        let body = (try? JSONSerialization.data(withJSONObject: out)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        return SignallingResponse(status: .ok, headers: [("Content-Type", "application/json")], body: body)
    }

    /// `webrtc://host[:port]/app/stream[?query]` as SRS's players send it.
    static func streamRequest(fromStreamURL url: String) throws(SignallingRefusal) -> StreamRequest {
        guard url.utf8.count <= 4096, let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            scheme == "webrtc" || scheme == "http" || scheme == "https"
        else {
            throw SignallingRefusal(.badRequest, "streamurl must look like webrtc://host/app/stream")
        }
        do {
            return try StreamRequest.http(host: components.host, path: components.percentEncodedPath, query: components.percentEncodedQuery ?? "")
        } catch {
            throw SignallingRefusal(.badRequest, "bad stream name in streamurl: \(error)")
        }
    }
}
