// The system API and the commands API (Host, built here from Sources/Host as FuzzHost): the
// register body, the close body and the Authorization header, IPNetwork, the API token.

import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

@testable import FuzzHost
@testable import ProxyCore

enum HostTargets {
    /// A register body: what it gives is a backend the router can dial and the registry can store.
    static func register(_ input: FuzzInput) {
        var r = input.reader
        let maxSummaries = [16, 200, 16 * 1024][r.upTo(2)]
        let body = Data(r.rest())
        guard let backend = try? RegisterRequest.parse(body, maxSummaries: maxSummaries) else { return }
        for (name, value) in [("server", backend.server), ("service", backend.service), ("pid", backend.pid), ("ip", backend.ip), ("device_id", backend.deviceID ?? "")] {
            check((!value.isEmpty || name == "device_id") && value.utf8.count <= RegisterRequest.maxFieldLength, "field \(name) of \(value.utf8.count) bytes")
            check(!value.unicodeScalars.contains { $0.value < 0x20 }, "control character in \(name)")
        }
        check(RegisterRequest.isDialableHost(backend.ip), "ip '\(backend.ip)' cannot be dialled")
        check(!backend.endpoints.isEmpty && backend.endpoints.values.allSatisfy { !$0.isEmpty && $0.count <= RegisterRequest.maxEndpoints }, "endpoint lists \(backend.endpoints)")
        for (kind, endpoints) in backend.endpoints {
            check(endpoints.allSatisfy { (1...65535).contains($0.port) }, "a \(kind) endpoint with port 0 or out of range")
            let address = backend.address(for: kind)
            check(address != nil && !(address!.host.isEmpty) && address!.port > 0, "no address for \(kind): \(String(describing: address))")
        }
        if let summaries = backend.summaries {
            check(summaries.utf8.count <= maxSummaries, "summaries of \(summaries.utf8.count) bytes over \(maxSummaries)")
            check((try? JSONSerialization.jsonObject(with: Data(summaries.utf8))) is [String: Any], "summaries are not a JSON object")
        }
        check(backend.id.rawValue == "\(backend.server)-\(backend.service)-\(backend.pid)", "backend id")
        // As the registry stores it (memory or Redis): JSON that reads back the same.
        let stored = try? JSONEncoder().encode(backend)
        check(stored.flatMap { try? JSONDecoder().decode(Backend.self, from: $0) } == backend, "the backend does not read back from its JSON")
    }

    static func json(_ object: [String: String]) -> Data {
        (try? JSONSerialization.data(withJSONObject: object)) ?? Data()
    }

    /// The commands API's close body: a valid key, which the other spellings of the same body
    /// give again.
    static func closeBody(_ input: FuzzInput) {
        guard let key = try? CloseRequestBody.parse(Data(input.bytes)) else { return }
        checkKey(key)
        check((try? CloseRequestBody.parse(json(["key": key.description]))) == key, "{\"key\": \"\(key)\"} gives another key")
        check((try? CloseRequestBody.parse(json(["vhost": key.vhost, "app": key.app, "stream": key.stream]))) == key, "vhost, app and stream of \(key) give another key")
    }

    /// The drain body: a grace time within 0 to 7 days, which the same number sent back gives again.
    static func drainBody(_ input: FuzzInput) {
        // `try?` flattens: nil for a refused body and for a body without a grace time alike.
        guard let grace = try? DrainRequestBody.parse(Data(input.bytes)) else { return }
        check(grace >= .zero && grace <= OriginDrainLimits.maxGrace, "grace \(grace) out of range")
        let again = try? DrainRequestBody.parse(Data("{\"grace_s\": \(grace.seconds)}".utf8))
        check(again == grace, "grace_s \(grace.seconds) reads back as \(String(describing: again))")
    }

    /// `system_api.allow` networks: host bits cleared, the text form parses back to the same
    /// network, and membership of a peer address is the prefix comparison (IPv4-mapped IPv6
    /// peers compared as IPv4).
    static func ipNetwork(_ input: FuzzInput) {
        let parts = input.bytes.split(separator: 0, maxSplits: 1, omittingEmptySubsequences: false)
        let text = String(decoding: parts[0], as: UTF8.self)
        var r = FuzzReader(parts.count > 1 ? Array(parts[1]) : [])
        let family = r.byte()
        var raw = r.take(16)
        raw += [UInt8](repeating: 0, count: 16 - raw.count)
        if family & 1 == 1 { raw = [UInt8](repeating: 0, count: 10) + [0xFF, 0xFF] + raw.prefix(4) }  // IPv4-mapped
        let peerBytes = family & 2 == 2 ? Array(raw.prefix(4)) : raw
        guard let peer = try? SocketAddress(packedIPAddress: ByteBuffer(bytes: peerBytes), port: 1) else { return }

        let loopbackBytes = IPNetwork.bytes(of: peer)!
        let expectLoopback = loopbackBytes.count == 4 ? loopbackBytes[0] == 127 : loopbackBytes == [UInt8](repeating: 0, count: 15) + [1]
        check(IPNetwork.isLoopback(peer) == expectLoopback, "isLoopback(\(peer)) wrong")

        guard let network = IPNetwork(text) else { return }
        check(network.bytes.count == 4 || network.bytes.count == 16, "\(network.bytes.count) address bytes")
        check((0...(network.bytes.count * 8)).contains(network.prefix), "prefix \(network.prefix)")
        for (i, b) in network.bytes.enumerated() {
            let bits = max(0, min(8, network.prefix - i * 8))
            check(bits == 8 || b & (0xFF >> bits) == 0, "host bits set in \(network)")
        }
        check(IPNetwork(network.description) == network, "'\(network)' does not parse back (from '\(text)')")
        let own = try? SocketAddress(packedIPAddress: ByteBuffer(bytes: network.bytes), port: 9)
        check(own.map(network.contains) ?? false, "\(network) does not contain its own address")
        let peerNet = IPNetwork.bytes(of: peer)!
        var expected = peerNet.count == network.bytes.count
        if expected {
            for i in 0..<peerNet.count {
                let bits = max(0, min(8, network.prefix - i * 8))
                let mask: UInt8 = bits == 0 ? 0 : UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
                if peerNet[i] & mask != network.bytes[i] { expected = false }
            }
        }
        check(network.contains(peer) == expected, "\(network).contains(\(peer)) is \(!expected)")
    }

    static func request(path: String, authorization: String?) -> Request {
        var fields = HTTPFields()
        if let authorization { fields[.authorization] = authorization }
        let head = HTTPRequest(method: .post, scheme: "http", authority: "proxy", path: path, headerFields: fields)
        return Request(head: head, body: RequestBody(buffer: ByteBuffer()))
    }

    static var loopback: SocketAddress { try! SocketAddress(ipAddress: "127.0.0.1", port: 4000) }
    static var outsider: SocketAddress { try! SocketAddress(ipAddress: "203.0.113.9", port: 4000) }

    /// The system API's token (`?token=` first, then `Authorization: Bearer`) and the commands
    /// API's Basic and Bearer credentials: a token or credentials given in any of the accepted
    /// forms is read back as given, a grant needs the token or a trusted address, and a header
    /// is accepted only when it carries the configured credentials.
    static func apiAccess(_ input: FuzzInput) {
        let f = input.fields(4)
        let (path, authorization, secret, password) = (f[0], f[1], f[2], f[3])

        // What a request presents, whatever its path and header.
        let request = request(path: path.hasPrefix("/") ? path : "/" + path, authorization: authorization.isEmpty ? nil : authorization)
        let presented = APIAccess.presentedToken(request)
        // Read independently of AuthorizationHeader: leading spaces, then "bearer " in any case,
        // as bytes; the rest trimmed.
        let header = request.headers[.authorization].map { String(decoding: $0.utf8.drop { $0 == UInt8(ascii: " ") }, as: UTF8.self) }
        if request.uri.queryParameters["token"] == nil {
            if let header, String(decoding: header.utf8.prefix(7), as: UTF8.self).lowercased() == "bearer " {
                check(presented == String(decoding: header.utf8.dropFirst(7), as: UTF8.self).trimmingCharacters(in: .whitespaces), "Bearer token not read as sent")
            } else {
                check(presented == nil, "a token from nowhere: \(presented ?? "")")
            }
        }
        // A token sent percent-encoded in the query is read back as it was.
        if !secret.isEmpty {
            let encoded = secret.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
            let withQuery = Self.request(path: "/api/v1/srs/register?a=1&token=\(encoded)", authorization: "Bearer other")
            check(APIAccess.presentedToken(withQuery) == secret, "?token= not read back: '\(secret)'")
            let access = APIAccess(token: secret, allow: [])
            check((try? access.register(withQuery, from: outsider)) == .token, "the token does not grant a register")
            check((try? access.register(request, from: loopback)) == (presented.map { ConstantTime.equal($0, secret) } == true ? .token : nil), "register granted without the token")
            check(((try? access.read(request, from: outsider)) != nil) == (presented.map { ConstantTime.equal($0, secret) } == true), "read grant differs from the token")
        }
        let open = APIAccess(token: "", allow: [IPNetwork("198.51.100.0/24")!])
        check((try? open.register(request, from: loopback)) == .address && (try? open.register(request, from: outsider)) == nil, "address grants")

        // Constant-time comparison is byte equality.
        check(ConstantTime.equal(secret, password) == (Array(secret.utf8) == Array(password.utf8)), "ConstantTime.equal differs from ==")

        // The commands API's Authorization header.
        let user = secret.isEmpty || secret.contains(":") ? "operator" : secret
        let pass = password.isEmpty ? "pa:ss" : password
        var auth = CommandsAuthConfig()
        auth.basic = .init(username: user, password: pass)
        auth.bearer = .init(token: pass)
        let basic = Data("\(user):\(pass)".utf8).base64EncodedString()
        check(auth.accepts("Basic " + basic) && auth.accepts("bAsIc  " + basic), "the configured Basic credentials are refused")
        check(!auth.accepts("Basic " + Data("\(user):\(pass)x".utf8).base64EncodedString()), "a wrong password is accepted")
        if !pass.contains(where: { $0 == " " || $0 == "\t" }) {
            check(auth.accepts("Bearer " + pass), "the configured Bearer token is refused")
        }
        if auth.accepts(authorization) {
            let parts = authorization.split(separator: " ", maxSplits: 1)
            let credentials = parts.count == 2 ? parts[1].trimmingCharacters(in: .whitespaces) : ""
            switch parts.first?.lowercased() {
            case "basic": check(Data(base64Encoded: credentials).map { String(decoding: $0, as: UTF8.self) } == "\(user):\(pass)", "Basic '\(authorization)' accepted")
            case "bearer": check(credentials == pass, "Bearer '\(authorization)' accepted")
            default: check(false, "'\(authorization)' accepted")
            }
        }
    }
}
