// WebRTC: signalling (Host header, stream URLs and paths, the backend target, Location
// rewriting, whole requests through WebRTCSignalling.handle) and the UDP relay's client and
// backend datagrams on EmbeddedChannel, against its consent rule.

import Foundation
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOPosix

@testable import ProxyCore
@testable import ProxyHTTP
@testable import ProxyNet
@testable import WebRTC

enum WebRTCTargets {
    static let context = StreamSession.Context(router: emptyRouter, hooks: NoHooks(), module: WebRTCModule.identity)

    static func request(_ method: HTTPMethod = .POST, uri: String, headers: [(String, String)] = [], body: [UInt8] = [], client: String = "198.51.100.7:5000") -> SignallingRequest {
        SignallingRequest(method: method, uri: uri, headers: HTTPHeaders(headers), body: ByteBuffer(bytes: body), client: client, local: "192.0.2.1")
    }

    /// An answer whose one candidate points at the backend, for rewriting with a client's host.
    static let answer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 127.0.0.1\r\na=ice-ufrag:bkuf\r\na=candidate:1 1 udp 2130706431 127.0.0.1 8000 typ host generation 0\r\n"

    /// The Host header: what `host(ofHostHeader:)` takes is part of the header and only a host
    /// name or IP literal, so the answer's candidates and c= lines name that host and nothing
    /// else (no space, no line break: one line stays one line).
    static func hostHeader(_ input: FuzzInput) {
        let f = input.fields(2)
        let value = f[0]
        _ = WebRTCSignalling.host(ofClient: f[1])
        guard let host = WebRTCSignalling.host(ofHostHeader: value) else { return }
        check(!host.isEmpty && value.contains(host), "host '\(host)' is not in '\(value)'")
        if value.hasPrefix("[") {
            check(host.utf8.allSatisfy { $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") || (48...57).contains($0) || (97...102).contains($0 | 0x20) }, "IPv6 host '\(host)'")
        } else {
            check(host.utf8.count <= 253 && host.first != "-" && host.first != "."
                && host.utf8.allSatisfy { (48...57).contains($0) || (97...122).contains($0 | 0x20) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") }, "host name '\(host)'")
        }
        let candidate = signalling.candidateHost(request(uri: "/rtc/v1/whep/live/s", headers: [("Host", value)]))
        check(candidate == host, "candidate '\(candidate)' for Host '\(value)'")
        guard let rewritten = try? SDPRewriter.answer(answer, backend: .init(hosts: ["127.0.0.1"], ports: [8000]), proxy: .init(host: candidate, port: 18000)) else {
            return check(false, "the answer does not rewrite for host '\(candidate)'")
        }
        let lines = rewritten.sdp.split(separator: "\r\n", omittingEmptySubsequences: false)
        check(lines.count == answer.split(separator: "\r\n", omittingEmptySubsequences: false).count, "host '\(candidate)' changed the answer's lines")
        check(lines.contains("a=candidate:1 1 udp 2130706431 \(candidate) 18000 typ host generation 0"), "candidate line for '\(candidate)'")
    }

    /// Stream URLs and paths: SRS's streamurl, WHIP/WHEP paths and queries give valid keys; the
    /// endpoint a path names is a suffix of it; the backend target is the client's own path and
    /// query, only when the path is plain (no dot segment, no encoded slash, dot, backslash or NUL).
    static func streamURL(_ input: FuzzInput) {
        let f = input.fields(3)
        if let request = try? SRSJSONDialect.streamRequest(fromStreamURL: f[0]) { checkKey(request.key) }
        let uri = f[1].hasPrefix("/") ? f[1] : "/rtc/v1/" + f[1]
        let req = request(uri: uri, headers: f[2].isEmpty ? [] : [("Host", f[2])])
        check(req.path + (uri.contains("?") ? "?" + req.query : "") == uri, "path '\(req.path)' and query '\(req.query)' of '\(uri)'")
        switch WebRTCSignalling.endpoint(req.path) {
        case .offer(let kind, let streamPath)?:
            check(req.path.hasSuffix(streamPath), "stream path '\(streamPath)' of '\(req.path)'")
            let dialect: any SignallingDialect = kind.dialect
            if let whip = dialect as? WHIPDialect, let offer = try? whip.readOffer(req, streamPath: streamPath) {
                checkKey(offer.stream.key)
                check(offer.stream.query == req.query, "query '\(offer.stream.query)' of '\(req.query)'")
            }
        case .resource(let id)?:
            check(req.path == WebRTCResourceRecord.pathPrefix + id, "resource id '\(id)' of '\(req.path)'")
        case nil:
            break
        }
        guard let target = WebRTCSignalling.backendTarget(req) else { return }
        check(target == (req.query.isEmpty ? req.path : req.path + "?" + req.query), "target '\(target)' is not the client's")
        check(target.hasPrefix("/rtc/v1/") && target.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "#") && $0 != UInt8(ascii: "\\") }, "target '\(target)' has bytes a request line cannot")
        let lowered = req.path.lowercased()
        check(!["%2e", "%2f", "%5c", "%00"].contains { lowered.contains($0) }, "target '\(target)' has an encoded dot, slash, backslash or NUL")
        let segments = req.path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        check(!segments.contains { $0 == "." || $0 == ".." } && !segments.dropLast().contains { $0.isEmpty }, "target '\(target)' has a dot or empty segment")
    }

    /// A backend's Location for a WHIP/WHEP resource, resolved against the offer's path: an
    /// origin-form target (`/...`) the proxy can send PATCH and DELETE to. The resource record
    /// reads back from its JSON.
    static func location(_ input: FuzzInput) {
        let f = input.fields(2)
        let path = "/rtc/v1/whip/" + f[1].filter { $0 != "?" && $0 != "#" }
        let target = WebRTCSignalling.resolve(f[0], against: path)
        check(target.hasPrefix("/"), "Location '\(f[0])' resolves to '\(target)', not an origin-form target")
        if f[0].hasPrefix("/") { check(target == f[0], "absolute path '\(f[0])' became '\(target)'") }
        let record = WebRTCResourceRecord(backend: "b-1", location: target, username: "a:b")
        check(WebRTCResourceRecord.decode(record.json) == record, "resource record does not read back")
        check(WebRTCResourceRecord.isValidID(f[1][...]) == (f[1].utf8.count == 32 && f[1].utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }), "isValidID")
        check(WebRTCResourceRecord.isValidID(WebRTCResourceRecord.newID()[...]), "a new id is not valid")
    }

    // MARK: - Whole signalling requests

    static let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    /// Signalling with no backend registered: every offer that parses is refused at routing.
    static let signalling: WebRTCSignalling = {
        let loop = group.next()
        let handle = runBlocking {
            try! await WebRTCRelay.Handle.make(
                on: loop, settings: .init(idleTimeout: .seconds(30), maxSessions: 8, recordTTL: .seconds(35)), sessions: context,
                background: BackgroundWork(capacity: 0), logger: quietLogger)
        }
        let settings = WebRTCSignalling.Settings(
            candidate: "*", udpPort: 18000, backendTimeout: .seconds(1), recordTTL: .seconds(35), cors: CORSPolicy(config: CORSConfig(), profile: .signalling))
        return WebRTCSignalling(settings: settings, sessions: context, logger: quietLogger, relay: handle, offers: AddressRateLimiter(.init(rate: 1e9, burst: 1e9, maxAddresses: 16)))
    }()

    static let methods: [HTTPMethod] = [.POST, .POST, .OPTIONS, .PATCH, .DELETE, .GET, .PUT, .HEAD]

    /// A whole request through WebRTCSignalling.handle: every header of the answer is a field
    /// value (nothing of the request can end a header), one Allow-Origin, an error is JSON naming
    /// its status, and with no backend no offer is accepted.
    static func signallingRequest(_ input: FuzzInput) {
        var r = input.reader
        let method = methods[Int(r.byte() & 7)]
        let f = FuzzInput(bytes: r.rest()).fields(5)
        var headers: [(String, String)] = []
        if !f[1].isEmpty { headers.append(("Host", f[1])) }
        if !f[2].isEmpty { headers.append(("Origin", f[2])) }
        if !f[3].isEmpty { headers.append((f[3].hasPrefix("a") ? "Access-Control-Request-Private-Network" : "Content-Type", f[3])) }
        let uri = f[0].hasPrefix("/") ? f[0] : "/rtc/v1/" + f[0]
        let req = request(method, uri: uri, headers: headers, body: Array(f[4].utf8))
        let response = runBlocking { await signalling.handle(req) }
        check((200...599).contains(response.status.code), "status \(response.status.code)")
        for (name, value) in response.headers {
            check(!name.isEmpty && name.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: ":") }, "header name '\(name)'")
            check(isFieldValue(value), "header \(name): '\(value)' is not a field value")
        }
        check(response.headers.filter { $0.0 == "Access-Control-Allow-Origin" }.count == 1, "Allow-Origin headers: \(response.headers)")
        if response.status.code >= 400 {
            let object = try? JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any]
            check((object?["code"] as? Int) == Int(response.status.code) && object?["error"] is String, "error body '\(response.body)'")
        }
        if method == .POST, case .offer? = WebRTCSignalling.endpoint(req.path) {
            check(response.status.code >= 400, "an offer answered \(response.status.code) with no backend")
        }
    }

    // MARK: - Relay datagrams

    /// Computed, not stored: a global SocketAddress hides its storage from LeakSanitizer.
    static var addresses: [SocketAddress] { [
        try! SocketAddress(ipAddress: "192.0.2.1", port: 5000), try! SocketAddress(ipAddress: "192.0.2.1", port: 5001),
        try! SocketAddress(ipAddress: "192.0.2.2", port: 5000), try! SocketAddress(ipAddress: "2001:db8::1", port: 5000),
        try! SocketAddress(ipAddress: "::ffff:192.0.2.1", port: 5000),
    ] }
    static let key = try! StreamKey(vhost: nil, app: "live", stream: "s")
    static let backend = Backend(server: "s", service: "v", pid: "1", ip: "127.0.0.1", endpoints: [.rtc: [ListenEndpoint(port: 8000)]])

    static func transactionID(_ n: UInt8) -> [UInt8] { [UInt8](repeating: 0xA0, count: 11) + [n] }

    static func stun(_ type: UInt16, _ n: UInt8) -> [UInt8] {
        [UInt8(type >> 8), UInt8(type & 0xFF), 0, 0, 0x21, 0x12, 0xA4, 0x42] + transactionID(n)
    }

    /// One media session of the harness: its backend socket and what the model knows.
    final class Model {
        let username: String
        let backend: EmbeddedChannel
        /// Binding Requests the backend got from each address, by transaction id.
        var requests: [STUNMessage.TransactionID: Set<SocketAddress>] = [:]
        /// Addresses to which a Binding success answering their own request was sent.
        var consented: Set<SocketAddress> = []

        init(username: String, backend: EmbeddedChannel) {
            self.username = username
            self.backend = backend
        }

        /// Notes what the backend got: Binding Requests, by the address they came from.
        func received(from: SocketAddress, expected: [UInt8]) {
            while let data = try? backend.readOutbound(as: ByteBuffer.self) {
                let bytes = Array(data.readableBytesView)
                check(bytes == expected, "the backend got other bytes than the client sent")
                bytes.withUnsafeBytes { raw in
                    if STUNMessage.isBindingRequest(raw) { requests[STUNMessage.transactionID(raw), default: []].insert(from) }
                }
            }
        }
    }

    /// The relay's listening socket and one or two sessions' backend sockets on EmbeddedChannel,
    /// driven by datagrams from five client addresses (Binding Requests with and without
    /// USE-CANDIDATE, media, junk) and from the backends (Binding successes and errors, media):
    /// datagrams pass unchanged both ways, and nothing but the answer to its own check goes to
    /// an address before the backend accepted a check from it (RFC 7675 consent).
    static func relay(_ input: FuzzInput) {
        var r = input.reader
        let addresses = addresses
        let backendAddress = try! SocketAddress(ipAddress: "127.0.0.1", port: 8000)
        let loop = EmbeddedEventLoop()
        let listener = EmbeddedChannel(loop: loop)
        var settings = WebRTCRelay.Settings(idleTimeout: .seconds(30), maxSessions: 4, recordTTL: .seconds(35))
        settings.gso = false
        settings.maxStarting = 1
        settings.maxClientAddresses = 2 + Int(r.byte() & 3)
        settings.trackedRequests = 1 + Int(r.byte() & 7)
        let relay = WebRTCRelay(loop: loop, settings: settings, sessions: context, background: BackgroundWork(capacity: 0), logger: quietLogger)
        try! listener.pipeline.syncOperations.addHandler(RelayListenerHandler(relay: relay))
        relay.attach(listener)
        var sessions: [Model] = []
        defer {
            relay.closeAll(reason: "fuzz input done")
            _ = try? listener.finish(acceptAlreadyClosed: true)
            for s in sessions { _ = try? s.backend.finish(acceptAlreadyClosed: true) }
            try? loop.syncShutdownGracefully()
        }

        let count = 1 + Int(r.byte() & 1)
        for k in 0..<count {
            let username = "bk\(k)uf:cl\(k)uf"
            let from = addresses[Int(r.byte()) % addresses.count]
            let first = STUNMessage.bindingRequest(username: username, transactionID: transactionID(UInt8(k)), nominate: r.bool())
            let socket = EmbeddedChannel(loop: loop)
            let handler = BackendHandler(relay: relay, gso: false)
            try! socket.pipeline.syncOperations.addHandler(handler)
            let model = Model(username: username, backend: socket)
            sessions.append(model)
            let request = StreamRequest(key: key)
            let stream = StreamSession(request, role: .play, client: "fuzz", needs: .rtc, context: context)
            let lease = RouteLease(id: UInt64(k), request: request, backend: backend, kind: .rtc, role: .play, client: "fuzz", module: "webrtc", since: Date(), router: emptyRouter)
            let record = WebRTCSessionRecord(backend: backend.id.rawValue, ip: "127.0.0.1", port: 8000, stream: key, query: "", role: .play, resource: nil)
            relay.starting[username] = [AddressedEnvelope(remoteAddress: from, data: ByteBuffer(bytes: first))]
            relay.started(username, record: record, stream: stream, lease: lease, channel: socket, handler: handler)
            for s in sessions { s.received(from: from, expected: first) }
        }

        var events = 0
        while !r.isAtEnd, events < 64 {
            events += 1
            let op = r.byte()
            if op & 3 != 3 {
                // A client datagram.
                let from = addresses[Int(r.byte()) % addresses.count]
                let choice = r.byte()
                let data: [UInt8]
                switch choice & 3 {
                case 0:
                    let name = choice & 4 == 0 ? sessions[Int(choice >> 3) % sessions.count].username : "nobody:x"
                    data = STUNMessage.bindingRequest(username: name, transactionID: transactionID(choice >> 4 & 3), nominate: choice & 8 != 0)
                case 1: data = [0x80, 0x60] + r.take(Int(choice >> 2) & 15)  // RTP
                case 2: data = [0x16, 0xFE, 0xFD] + r.take(13)  // DTLS
                default: data = r.field()
                }
                _ = try? listener.writeInbound(AddressedEnvelope(remoteAddress: from, data: ByteBuffer(bytes: data)))
                while (try? listener.readOutbound(as: AddressedEnvelope<ByteBuffer>.self)) != nil {
                    check(false, "a client datagram was answered by the relay itself")
                }
                for s in sessions { s.received(from: from, expected: data) }
            } else {
                // A backend datagram.
                let s = sessions[Int(op >> 2) % sessions.count]
                let choice = r.byte()
                let data: [UInt8]
                switch choice & 3 {
                case 0: data = stun(0x0101, choice >> 2 & 3)  // Binding success
                case 1: data = stun(0x0111, choice >> 2 & 3)  // Binding error
                case 2: data = [0x80, 0x60] + r.take(Int(choice >> 2) & 15)
                default: data = r.field()
                }
                _ = try? s.backend.writeInbound(AddressedEnvelope(remoteAddress: backendAddress, data: ByteBuffer(bytes: data)))
                while let out = try? listener.readOutbound(as: AddressedEnvelope<ByteBuffer>.self) {
                    let bytes = Array(out.data.readableBytesView)
                    check(bytes == data, "the client got other bytes than the backend sent")
                    let to = out.remoteAddress
                    bytes.withUnsafeBytes { raw in
                        let isResponse = !bytes.isEmpty && bytes[0] <= 3 && STUNMessage.isBindingResponse(raw)
                        if isResponse {
                            let asked = s.requests[STUNMessage.transactionID(raw)]?.contains(to) == true
                            check(asked || s.consented.contains(to), "a Binding response went to \(to), which neither sent that check nor has consent")
                            if asked && STUNMessage.isBindingSuccess(raw) { s.consented.insert(to) }
                        } else {
                            check(s.consented.contains(to), "media went to \(to) before the backend accepted a check from it")
                        }
                    }
                }
            }
        }
    }
}
