import Foundation
import NIOCore
import NIOHTTP1
import ProxyHTTP

/// One signalling request as the HTTP handler gathered it (head and whole body, capped).
struct SignallingRequest: Sendable {
    var method: HTTPMethod
    /// The request target as the client sent it (path and query).
    var uri: String
    var headers: HTTPHeaders
    /// The whole body (at most `WebRTCSignalling.Settings.maxBody` bytes).
    var body: ByteBuffer
    /// The client's address as text (logs, hooks).
    var client: String
    /// The proxy's own address on this connection (the candidate when no Host header names one).
    var local: String?
    /// The client's IP address alone (X-Forwarded-For and X-Real-IP towards the origin).
    var clientIP: String?

    var path: String { String(uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0]) }
    var query: String {
        let parts = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        return parts.count > 1 ? String(parts[1]) : ""
    }
    var host: String? { headers.first(name: "host") }

    /// Headers every request to the origin carries for this client: X-Forwarded-For (the
    /// client's own list, then its address) and X-Real-IP, as the HTTP relays send them.
    var forwardedHeaders: HTTPHeaders {
        var headers = HTTPHeaders()
        ProxyHeaders.addForwarded(&headers, from: self.headers, clientIP: clientIP)
        return headers
    }
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

/// A refusal of a signalling request: the answer to send.
struct SignallingRefusal: Error {
    var response: SignallingResponse
    init(_ status: HTTPResponseStatus, _ message: String) { response = .error(status, message) }
}
