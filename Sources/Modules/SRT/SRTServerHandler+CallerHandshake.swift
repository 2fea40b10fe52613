import Logging
import NIOCore
import NIOPosix
import ProxyCore
import ProxyNet

// Handshakes from callers: inductions answered with a cookie, conclusions turned into sessions.
extension SRTServerHandler {
    func handshake(_ buffer: ByteBuffer, from: SocketAddress, context: ChannelHandlerContext) {
        let hs: SRTHandshake
        do {
            hs = try SRTHandshake(parsing: buffer.readableBytesView)
        } catch {
            drops.note(.malformedHandshake, from: from, detail: "\(error)", logger: logger)
            return
        }
        switch hs.kind {
        case .induction:
            guard hs.version == 4 || hs.version == 5 else {
                drops.note(.unknownVersion, from: from, detail: "induction version \(hs.version)", logger: logger)
                return
            }
            var reply = hs
            reply.timestamp = 0
            reply.destinationSocketID = hs.socketID
            reply.version = 5
            reply.encryption = 0
            reply.extensionField = SRTHandshake.magic
            reply.cookie = makeCookie(for: from)
            reply.peerIP = from.srtPeerIPField
            reply.extensions = []
            send(reply.serialized(), to: from)
        case .conclusion:
            guard hs.version == 5 else {
                drops.note(.unknownVersion, from: from, detail: "conclusion version \(hs.version) (HSv5 only)", logger: logger)
                return
            }
            guard verifyCookie(hs.cookie, for: from) else {
                drops.note(.badCookie, from: from, detail: "cookie \(hs.cookie)", logger: logger)
                return
            }
            if let existing = table.session(forAddress: from, now: now), existing.clientSocketID == hs.socketID {
                // A retransmission: absorbed while connecting, answered from the stored response after.
                existing.lastSeen = now
                if existing.state == .connected, let response = existing.response {
                    context.writeAndFlush(wrapOutboundOut(AddressedEnvelope(remoteAddress: from, data: response)), promise: nil)
                }
                return
            }
            conclusion(hs, from: from)
        default:
            drops.note(.unexpectedHandshake, from: from, detail: "handshake type \(hs.kind.rawValue)", logger: logger)
        }
    }

    func makeCookie(for address: SocketAddress) -> UInt32 {
        let seconds = UInt64(NIODeadline.now().uptimeNanoseconds / 1_000_000_000)
        return address.withSockAddr { cookie.make(address: UnsafeRawBufferPointer(start: $0, count: $1), seconds: seconds) }
    }

    func verifyCookie(_ value: UInt32, for address: SocketAddress) -> Bool {
        let seconds = UInt64(NIODeadline.now().uptimeNanoseconds / 1_000_000_000)
        return address.withSockAddr { cookie.verify(value, address: UnsafeRawBufferPointer(start: $0, count: $1), seconds: seconds) }
    }

    /// Refuses a caller's conclusion with an SRT rejection (handshake type 1000 + reason).
    func reject(_ hs: SRTHandshake, from: SocketAddress, reason: UInt32) {
        var reply = hs
        reply.timestamp = 0
        reply.destinationSocketID = hs.socketID
        reply.kind = .rejection(reason)
        reply.peerIP = from.srtPeerIPField
        reply.extensions = []
        send(reply.serialized(), to: from)
    }

    func conclusion(_ hs: SRTHandshake, from: SocketAddress) {
        let text: String
        do {
            guard let sid = try hs.streamID() else {
                drops.note(.noStreamID, from: from, detail: "conclusion without a Stream ID", logger: logger)
                reject(hs, from: from, reason: SRTHandshake.RejectReason.badRequest)
                return
            }
            text = sid
        } catch {
            drops.note(.streamIDTooLong, from: from, detail: "\(error)", logger: logger)
            reject(hs, from: from, reason: SRTHandshake.RejectReason.badRequest)
            return
        }
        let streamID: SRTStreamID
        do {
            streamID = try SRTStreamID(parsing: text)
        } catch {
            drops.note(.badStreamID, from: from, detail: "\(error)", logger: logger)
            reject(hs, from: from, reason: SRTHandshake.RejectReason.badRequest)
            return
        }
        guard accepting else {
            reject(hs, from: from, reason: SRTHandshake.RejectReason.serviceUnavailable)
            return
        }
        // Each new session costs a hook call, a backend socket and a backend handshake: an
        // address may start `session_rate` a second (one induction cookie admits no more).
        guard environment.newSessions.allow(from.ipAddress ?? "") else {
            drops.note(.rateLimited, from: from, detail: "more new sessions than session_rate allows", logger: logger)
            reject(hs, from: from, reason: SRTHandshake.RejectReason.overload)
            return
        }
        let session = SRTSession(
            client: from, conclusion: hs, request: streamID.request, role: streamID.role,
            sessions: environment.sessions, logger: logger)
        session.lastSeen = now
        let displaced: UDPSessionTable<UInt32, SRTSession>.Entry?
        do {
            displaced = try table.insert(id: hs.socketID, address: from, session: session, now: now)
        } catch {
            drops.note(.sessionLimit, from: from, detail: "\(error)", logger: logger)
            reject(hs, from: from, reason: SRTHandshake.RejectReason.overload)
            return
        }
        if let displaced { teardown(displaced.session, reason: "replaced by a new connection from the same address", notify: true) }
        if session.role == .publish {
            authorize(session)
        } else {
            route(session)
        }
    }
}
