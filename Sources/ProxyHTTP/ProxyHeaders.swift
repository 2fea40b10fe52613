import Foundation
import NIOHTTP1

/// Header rules of the HTTP relays: which fields cross the proxy and which it sets itself.
public enum ProxyHeaders {
    /// Hop-by-hop fields (RFC 9110 §7.6.1) plus framing, which the proxy sets per hop.
    public static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
        "te", "trailer", "transfer-encoding", "upgrade",
    ]

    /// The request head sent to the backend: the client's method, target (minus the proxy's
    /// session parameter) and end-to-end headers, its Host kept (origins route vhosts by it),
    /// and X-Forwarded-For / X-Real-IP naming the client.
    public static func backendRequest(_ head: ClientRequestHead, target: String, clientIP: String?) -> HTTPRequestHead {
        var headers = HTTPHeaders()
        let named = connectionTokens(head.headers)
        var forwardedFor: String?
        for (name, value) in head.headers {
            let lower = name.lowercased()
            if hopByHop.contains(lower) || named.contains(lower) || lower == "content-length" { continue }
            if lower == "x-forwarded-for" { forwardedFor = value; continue }
            if lower == "x-real-ip" { continue }
            headers.add(name: name, value: value)
        }
        if let clientIP {
            headers.add(name: "X-Forwarded-For", value: forwardedFor.map { "\($0), \(clientIP)" } ?? clientIP)
            headers.add(name: "X-Real-IP", value: clientIP)
        }
        if head.header("host") == nil, let host = head.host { headers.add(name: "Host", value: host) }
        headers.add(name: "Connection", value: "keep-alive")
        return HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: head.method), uri: target, headers: headers)
    }

    /// X-Forwarded-For (the client's own `incoming` list, then `clientIP`) and X-Real-IP, for a
    /// request to an origin made on a client's behalf (the WebRTC signalling's).
    public static func addForwarded(_ headers: inout HTTPHeaders, from incoming: HTTPHeaders, clientIP: String?) {
        guard let clientIP else { return }
        let earlier = incoming[canonicalForm: "x-forwarded-for"].map(String.init).joined(separator: ", ")
        headers.replaceOrAdd(name: "X-Forwarded-For", value: earlier.isEmpty ? clientIP : "\(earlier), \(clientIP)")
        headers.replaceOrAdd(name: "X-Real-IP", value: clientIP)
    }

    /// The backend's response headers without hop-by-hop fields (and without CORS fields when
    /// the proxy sets its own).
    public static func clientResponseHeaders(_ headers: HTTPHeaders, dropCORS: Bool) -> HTTPHeaders {
        let named = connectionTokens(headers.map { ($0.name, $0.value) })
        var out = HTTPHeaders()
        for (name, value) in headers {
            let lower = name.lowercased()
            if hopByHop.contains(lower) || named.contains(lower) { continue }
            if dropCORS && lower.hasPrefix("access-control-") { continue }
            out.add(name: name, value: value)
        }
        return out
    }

    private static func connectionTokens(_ headers: [(name: String, value: String)]) -> Set<String> {
        Set(headers.filter { $0.name.lowercased() == "connection" }.flatMap {
            $0.value.lowercased().split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        })
    }
}
