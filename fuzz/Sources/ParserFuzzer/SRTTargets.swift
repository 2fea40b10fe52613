// SRT and the UDP fast path: the rules that classify datagrams outside NIO, the Stream ID
// extension, SYN cookies, and the listener's handler on EmbeddedChannel up to routing.

#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOEmbedded

@testable import ProxyCore
@testable import ProxyNet
@testable import SRT

enum SRTTargets {
    static func be16(_ b: [UInt8], _ at: Int) -> UInt16 { UInt16(b[at]) << 8 | UInt16(b[at + 1]) }
    static func be32(_ b: [UInt8], _ at: Int) -> UInt32 { UInt32(be16(b, at)) << 16 | UInt32(be16(b, at + 2)) }

    /// UDPFastPath's rules for SRT: the fast path relays exactly the datagrams the listener's
    /// hot path relays (16 bytes or more, not a handshake), keyed by the destination socket id,
    /// never a handshake; it reports SHUTDOWN. The loop's reading of a kernel source address
    /// gives a v4 or v6 address of that family, or nil.
    static func fastPathRules(_ input: FuzzInput) {
        let bytes = input.bytes
        let rules = SRTPacket.fastPathRules
        let key = bytes.withUnsafeBytes { rules.clientKey($0) }
        let notify = bytes.withUnsafeBytes { rules.notify($0) }
        if bytes.count < SRTPacket.headerSize || be16(bytes, 0) == SRTPacket.ControlWord.handshake {
            check(key == nil, "a key for a short packet or a handshake")
        } else {
            check(key == be32(bytes, SRTPacket.destinationOffset), "key \(String(describing: key)) is not the destination socket id")
        }
        check(notify == (bytes.count >= SRTPacket.headerSize && be16(bytes, 0) == SRTPacket.ControlWord.shutdown), "notify \(notify)")
        if (try? SRTHandshake(parsing: bytes)) != nil { check(key == nil, "the fast path would relay a handshake") }
        let shutdown = SRTPacket.shutdown(destination: bytes.count >= 4 ? be32(bytes, 0) : 7)
        check(shutdown.withUnsafeBytes { rules.clientKey($0) } == be32(shutdown, 12) && shutdown.withUnsafeBytes { rules.notify($0) }, "SHUTDOWN not relayed and reported")

        var storage = sockaddr_storage()
        withUnsafeMutableBytes(of: &storage) { raw in
            for (i, b) in bytes.prefix(raw.count).enumerated() { raw[i] = b }
        }
        let family = Int32(storage.ss_family)
        let address = UDPFastPathLoop.socketAddress(&storage)
        switch address {
        case .v4?: check(family == AF_INET, "a v4 address from family \(family)")
        case .v6?: check(family == AF_INET6, "a v6 address from family \(family)")
        case .unixDomainSocket?: check(false, "a unix address from a datagram source")
        case nil: check(family != AF_INET && family != AF_INET6, "no address from family \(family)")
        }
    }

    /// The Stream ID extension: text written into a conclusion reads back as the same text (up
    /// to trailing NULs, which are padding), the last of several wins, the packet serializes to
    /// what it parsed from, and a SYN cookie verifies for its address and no other.
    static func streamIDExtension(_ input: FuzzInput) {
        var r = input.reader
        let flags = r.byte()
        let first = r.string()
        let second = r.string()
        var hs = SRTHandshake()
        hs.kind = .conclusion
        hs.extensions = [SRTHandshake.Extension(type: SRTHandshake.ExtensionType.hsreq, content: [0, 1, 5, 3, 0, 0, 0, 0xBF, 0, 0x78, 0, 0])]
        hs.extensions.append(SRTHandshake.streamIDExtension(first))
        if flags & 1 == 1 { hs.extensions.append(SRTHandshake.streamIDExtension(second)) }
        let expected = flags & 1 == 1 ? second : first
        let bytes = hs.serialized()
        guard let parsed = try? SRTHandshake(parsing: bytes) else { return check(false, "a conclusion the proxy wrote does not parse") }
        check(parsed == hs && parsed.serialized() == bytes, "the conclusion does not read back")
        let trimmed = String(decoding: Array(expected.utf8).reversed().drop { $0 == 0 }.reversed(), as: UTF8.self)
        do {
            let sid = try parsed.streamID()
            check(sid == trimmed, "stream id '\(String(describing: sid))' read back from '\(expected)'")
            check(trimmed.utf8.count <= SRTHandshake.maxStreamIDLength, "a stream id over the limit was read")
            if let sid, let request = try? SRTStreamID(parsing: sid) { checkKey(request.request.key) }
        } catch {
            check(trimmed.utf8.count > SRTHandshake.maxStreamIDLength, "stream id of \(trimmed.utf8.count) bytes refused: \(error)")
        }

        let cookie = SRTCookie(key: (UInt64(r.uint32()), UInt64(r.uint32())), bucketSeconds: 1 + UInt64(r.byte()))
        let address = r.take(16)
        let other = address + [1]
        let seconds = UInt64(r.uint32())
        let made = address.withUnsafeBytes { cookie.make(address: $0, seconds: seconds) }
        check(address.withUnsafeBytes { cookie.verify(made, address: $0, seconds: seconds) }, "a cookie does not verify in its bucket")
        check(address.withUnsafeBytes { cookie.verify(made, address: $0, seconds: seconds + cookie.bucketSeconds) }, "a cookie does not verify in the next bucket")
        let forOther = other.withUnsafeBytes { cookie.make(address: $0, seconds: seconds) }
        check(forOther != made || other.withUnsafeBytes { cookie.verify(made, address: $0, seconds: seconds) }, "verify disagrees with make")
    }

    static var callers: [SocketAddress] { [
        try! SocketAddress(ipAddress: "192.0.2.5", port: 40_000), try! SocketAddress(ipAddress: "192.0.2.6", port: 40_001),
        try! SocketAddress(ipAddress: "2001:db8::5", port: 40_000),
    ] }

    /// A handler that refuses every new session just before routing: by its per-address session
    /// rate (`byRate`) or as a draining listener does.
    static func handler(byRate: Bool) -> SRTServerHandler {
        var environment = SRTServerHandler.Environment(
            sessions: StreamSession.Context(router: emptyRouter, hooks: NoHooks(), module: SRTModule.identity), logger: quietLogger, fastPath: nil,
            dialer: { _, loop, _, _ in loop.makeFailedFuture(ChannelError.ioOnClosedChannel) })
        if byRate { environment.newSessions = AddressRateLimiter(.init(rate: 0, burst: 0)) }
        let handler = SRTServerHandler(settings: .init(idleTimeout: .seconds(10), backendTimeout: .seconds(3), maxSessions: 4), environment: environment)
        handler.accepting = byRate
        return handler
    }

    /// The SRT listener's handler on EmbeddedChannel, fed inductions, conclusions (with the
    /// caller's valid cookie and a Stream ID from the input, or not), data packets and junk from
    /// three callers, up to where a session would need the router (it is refused just before,
    /// by the shutdown flag or the per-address session rate): at most one reply per datagram,
    /// to its sender; a reply is a handshake for the caller's socket: an induction answer with
    /// the magic, version 5 and a cookie valid for that caller, or a rejection; no session is kept.
    static func server(_ input: FuzzInput) {
        var r = input.reader
        let callers = callers
        let handler = handler(byRate: r.bool())
        let channel = EmbeddedChannel(handler: handler)
        defer { _ = try? channel.finish(acceptAlreadyClosed: true) }
        var datagrams = 0
        while !r.isAtEnd, datagrams < 16 {
            datagrams += 1
            let from = callers[Int(r.byte()) % callers.count]
            let choice = r.byte()
            var hs = SRTHandshake()
            hs.socketID = r.uint32()
            hs.version = choice & 4 == 0 ? 5 : UInt32(r.byte())
            var bytes: [UInt8]
            switch choice & 3 {
            case 0:
                hs.kind = .induction
                hs.extensionField = SRTHandshake.inductionExtensionField
                bytes = hs.serialized()
            case 1:
                hs.kind = .conclusion
                hs.cookie = choice & 8 == 0 ? handler.makeCookie(for: from) : r.uint32()
                hs.extensions = [SRTHandshake.streamIDExtension(r.string())]
                if choice & 16 != 0 { hs.extensions.append(SRTHandshake.Extension(type: UInt16(r.byte() & 7), content: r.take(Int(r.byte() & 3) * 4))) }
                bytes = hs.serialized()
                if choice & 32 != 0 { bytes += r.take(Int(r.byte() & 7)) }  // a cut or padded extension
            case 2:
                bytes = [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0] + r.take(4) + r.take(Int(r.byte() & 31))  // data to some socket id
            default:
                bytes = r.field()
            }
            _ = try? channel.writeInbound(AddressedEnvelope(remoteAddress: from, data: ByteBuffer(bytes: bytes)))
            var replies = 0
            while let reply = try? channel.readOutbound(as: AddressedEnvelope<ByteBuffer>.self) {
                replies += 1
                check(reply.remoteAddress == from, "a reply to \(reply.remoteAddress) for a datagram from \(from)")
                guard let answer = try? SRTHandshake(parsing: reply.data.readableBytesView), let sent = try? SRTHandshake(parsing: bytes) else {
                    return check(false, "a reply that is not a handshake, or to a datagram that is not one")
                }
                check(answer.destinationSocketID == sent.socketID && answer.extensions.isEmpty, "reply not for the caller's socket \(sent.socketID)")
                switch answer.kind {
                case .induction:
                    check(sent.kind == .induction && answer.version == 5 && answer.extensionField == SRTHandshake.magic, "induction answer")
                    check(handler.verifyCookie(answer.cookie, for: from), "the cookie of an induction answer does not verify for its caller")
                case .rejection:
                    check(sent.kind == .conclusion, "a rejection of a \(sent.kind)")
                default:
                    check(false, "a reply of kind \(answer.kind)")
                }
            }
            check(replies <= 1, "\(replies) replies to one datagram")
            check(handler.sessionCount == 0, "a session kept while refusing")
        }
    }
}
