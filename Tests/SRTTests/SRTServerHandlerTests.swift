import Logging
import NIOCore
import NIOEmbedded
import ProxyCore
import ProxyNet
import Testing

@testable import SRT

/// The SRT listener's handler on EmbeddedChannel, up to where a session needs the router:
/// inductions answered statelessly with a cookie for the caller's address, conclusions without
/// that cookie dropped, and junk of every kind dropped and counted by cause, never answered.
@Suite struct SRTServerHandlerTests {
    static let caller = try! SocketAddress(ipAddress: "127.0.0.1", port: 40_000)
    static let other = try! SocketAddress(ipAddress: "127.0.0.5", port: 40_000)

    static func handler() -> SRTServerHandler {
        let router = Router(registry: MemoryRegistry(), strategy: RoundRobinStrategy())
        return SRTServerHandler(
            settings: .init(idleTimeout: .seconds(10), backendTimeout: .seconds(3), maxSessions: 4),
            environment: .init(
                sessions: StreamSession.Context(router: router, hooks: NoHooks(), module: SRTModule.identity),
                logger: Logger(label: "test.srt", factory: { _ in SwiftLogNoOpLogHandler() }), fastPath: nil,
                dialer: { _, loop, _, _ in loop.makeFailedFuture(ChannelError.ioOnClosedChannel) }))
    }

    static func send(_ channel: EmbeddedChannel, _ bytes: [UInt8], from: SocketAddress = caller) throws {
        try channel.writeInbound(AddressedEnvelope(remoteAddress: from, data: ByteBuffer(bytes: bytes)))
    }

    @Test func anInductionIsAnsweredWithACookieAndNothingIsKept() throws {
        let handler = Self.handler()
        let channel = EmbeddedChannel(handler: handler)
        try Self.send(channel, Captures.induction)
        let reply = try #require(try channel.readOutbound(as: AddressedEnvelope<ByteBuffer>.self))
        #expect(reply.remoteAddress == Self.caller)
        let hs = try SRTHandshake(parsing: reply.data.readableBytesView)
        let induction = try SRTHandshake(parsing: Captures.induction)
        #expect(hs.kind == .induction && hs.version == 5 && hs.extensionField == SRTHandshake.magic)
        #expect(hs.destinationSocketID == induction.socketID, "to the caller's socket")
        #expect(handler.verifyCookie(hs.cookie, for: Self.caller) && !handler.verifyCookie(hs.cookie, for: Self.other), "bound to the address")
        #expect(handler.sessionCount == 0, "an induction makes no session")
        _ = try channel.finish()
    }

    @Test func aConclusionWithoutTheCallersCookieIsDroppedUnanswered() throws {
        let handler = Self.handler()
        let channel = EmbeddedChannel(handler: handler)
        try Self.send(channel, Captures.conclusion)  // the captured cookie is another listener's
        #expect(try channel.readOutbound(as: AddressedEnvelope<ByteBuffer>.self) == nil)
        #expect(handler.drops[.badCookie] == 1 && handler.sessionCount == 0)
        _ = try channel.finish()
    }

    @Test func junkIsDroppedAndCountedByCause() throws {
        let handler = Self.handler()
        let channel = EmbeddedChannel(handler: handler)
        try Self.send(channel, [1, 2, 3])
        var data = [UInt8](repeating: 0, count: 32)
        data[15] = 7  // a data packet to socket id 7, which no session has
        try Self.send(channel, data)
        var handshake = Captures.induction
        handshake[16...19] = [0, 0, 0, 3]  // an induction of version 3
        try Self.send(channel, handshake)
        try Self.send(channel, Array(Captures.induction.prefix(40)))  // a cut handshake
        #expect(try channel.readOutbound(as: AddressedEnvelope<ByteBuffer>.self) == nil, "junk is never answered")
        #expect(handler.drops[.tooShort] == 1 && handler.drops[.unknownSocketID] == 1)
        #expect(handler.drops[.unknownVersion] == 1 && handler.drops[.malformedHandshake] == 1)
        _ = try channel.finish()
    }
}
