import Logging
import NIOCore
import NIOEmbedded
import ProxyCore
import ProxyNet
import Testing

@testable import WebRTC

/// The WebRTC relay's listening-socket handler on EmbeddedChannel: from an unknown address only
/// a STUN Binding Request is taken, and it starts a session look-up (in the module's background
/// work) with its datagram held; everything else is dropped and counted, never answered.
@Suite struct WebRTCRelayHandlerTests {
    static let client = try! SocketAddress(ipAddress: "127.0.0.1", port: 40_000)

    static func relay(on loop: EmbeddedEventLoop, background: BackgroundWork) -> WebRTCRelay {
        let router = Router(registry: MemoryRegistry(), strategy: RoundRobinStrategy())
        var settings = WebRTCRelay.Settings(idleTimeout: .seconds(5), maxSessions: 8, recordTTL: .seconds(35))
        settings.maxStarting = 2
        return WebRTCRelay(
            loop: loop, settings: settings, sessions: StreamSession.Context(router: router, hooks: NoHooks(), module: WebRTCModule.identity),
            background: background, logger: Logger(label: "test.webrtc", factory: { _ in SwiftLogNoOpLogHandler() }))
    }

    static func send(_ channel: EmbeddedChannel, _ bytes: [UInt8], from: SocketAddress = client) throws {
        try channel.writeInbound(AddressedEnvelope(remoteAddress: from, data: ByteBuffer(bytes: bytes)))
    }

    @Test func unknownAddressesGetOnlyTheirBindingRequestsLookedUp() throws {
        let channel = EmbeddedChannel()
        let background = BackgroundWork()
        let relay = Self.relay(on: channel.embeddedEventLoop, background: background)
        try channel.pipeline.syncOperations.addHandler(RelayListenerHandler(relay: relay))
        relay.attach(channel)

        try Self.send(channel, [0x16, 0xFE, 0xFD] + [UInt8](repeating: 0, count: 30))  // DTLS from nobody
        var malformed = STUNMessage.bindingRequest(username: "abcd:efgh")
        malformed[3] = 0xFF  // a length past the datagram
        try Self.send(channel, malformed)
        #expect(relay.drops.unknownAddress == 1 && relay.drops.badSTUN == 1)

        try Self.send(channel, STUNMessage.bindingRequest(username: "abcd:efgh"))
        try Self.send(channel, STUNMessage.bindingRequest(username: "abcd:efgh"))
        #expect(relay.starting["abcd:efgh"]?.count == 2, "the request and its retransmission held while the record is looked up")
        try Self.send(channel, STUNMessage.bindingRequest(username: "ijkl:mnop"))
        try Self.send(channel, STUNMessage.bindingRequest(username: "qrst:uvwx"))
        #expect(relay.starting.count == 2 && relay.drops.sessionsFull == 1, "look-ups in flight are capped (max_starting)")
        #expect(try channel.readOutbound(as: AddressedEnvelope<ByteBuffer>.self) == nil, "nothing is answered to an unknown address")
        #expect(relay.sessionCount == 0)
        relay.closeAll(reason: "test over")
        _ = try channel.finish()
    }
}
