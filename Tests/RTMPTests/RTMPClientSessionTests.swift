import Logging
import NIOCore
import NIOEmbedded
import ProxyCore
import ProxyNet
import ProxyTesting
import Testing

@testable import RTMP

/// RTMPClientSession on EmbeddedChannel, up to the routing decision: the handshake, the commands
/// the proxy answers itself, the refusal when no backend serves the stream, and bad clients (each
/// costs one closed connection, never a crash).
@Suite struct RTMPClientSessionTests {
    static let settings = RTMPClientSession.Settings(
        handshakeTimeout: .seconds(10), backendTimeout: .seconds(5), limits: RTMPChunkDecoder.Limits(maxMessageSize: 8 << 20))

    static func environment(
        hooks: any ProxyHooks = NoHooks(), refusals: ReasonCounters<RTMPRefusal> = .init()
    ) -> RTMPClientSession.Environment {
        RTMPClientSession.Environment(
            sessions: StreamSession.Context(
                router: Router(registry: MemoryRegistry(), strategy: RoundRobinStrategy()), hooks: hooks, module: RTMPModule.identity),
            logger: Logger(label: "test.rtmp.session", factory: { _ in SwiftLogNoOpLogHandler() }), refusals: refusals)
    }

    /// The reasons counted so far, without those at zero.
    static func counted(_ refusals: ReasonCounters<RTMPRefusal>) -> [RTMPRefusal: UInt64] {
        Dictionary(uniqueKeysWithValues: RTMPRefusal.allCases.map { ($0, refusals[$0]) }.filter { $0.1 > 0 })
    }

    static let peer = try! SocketAddress(ipAddress: "127.0.0.1", port: 50_000)

    // MARK: Client bytes

    /// C1 as a plain client sends it: time, zero, then filler.
    static let c1: [UInt8] = [0, 0, 0, 1, 0, 0, 0, 0] + Wire.pattern(1528, seed: 11)
    static let c2: [UInt8] = Wire.pattern(1536, seed: 12)
    static let handshake: [UInt8] = [3] + c1 + c2

    static let tcUrl = "rtmp://127.0.0.1:1935/live"

    static func connect(tcUrl: String? = tcUrl, app: String = "live", transactionID: Double = 1) -> RTMPCommand {
        var object: AMF0Object = [
            "app": .string(app), "type": .string("nonprivate"), "flashVer": .string("FMLE/3.0 (compatible; Lavf61.1.100)"),
        ]
        if let tcUrl { object["tcUrl"] = .string(tcUrl) }
        object["swfUrl"] = .string("rtmp://127.0.0.1:1935/live")
        object["objectEncoding"] = .number(0)
        return RTMPCommand(name: "connect", transactionID: transactionID, commandObject: .object(object))
    }

    static func publish(_ name: String = "stream", transactionID: Double = 5) -> RTMPCommand {
        RTMPCommand(name: "publish", transactionID: transactionID, arguments: [.string(name), .string("live")])
    }

    static func play(_ name: String = "stream", transactionID: Double = 5) -> RTMPCommand {
        RTMPCommand(name: "play", transactionID: transactionID, arguments: [.string(name), .number(-2000)])
    }

    /// A command message as chunks (type 20, chunk stream 3 by default).
    static func chunks(_ command: RTMPCommand, csid: UInt32 = 3, streamID: UInt32 = 0) -> [UInt8] {
        message(payload: Array(command.encoded().readableBytesView), type: RTMPMessageType.commandAMF0, csid: csid, streamID: streamID)
    }

    static func message(payload: [UInt8], type: UInt8, csid: UInt32, streamID: UInt32, timestamp: UInt32 = 0, chunkSize: Int = 128) -> [UInt8] {
        var out = ByteBuffer()
        RTMPChunkEncoder.writeMessage(
            csid: csid, timestamp: timestamp, typeID: type, streamID: streamID, payload: ByteBuffer(bytes: payload), chunkSize: chunkSize, into: &out)
        return Array(out.readableBytesView)
    }

    // MARK: Harness

    /// A message the proxy sent the client.
    struct Sent {
        var csid: UInt32
        var type: UInt8
        var streamID: UInt32
        var payload: [UInt8]

        var command: RTMPCommand? {
            guard type == RTMPMessageType.commandAMF0 else { return nil }
            return try? RTMPCommand(decoding: ByteBuffer(bytes: payload), amf3: false)
        }
        var info: AMF0Object? { command?.arguments.first?.object }
    }

    /// One client connection on an EmbeddedChannel.
    final class Client {
        let loop = EmbeddedEventLoop()
        let channel: EmbeddedChannel
        let refusals = ReasonCounters<RTMPRefusal>()
        /// Reads what the proxy sends after S0/S1/S2.
        private var decoder = RTMPChunkDecoder()
        private var pending = ByteBuffer()
        private var partial: [UInt32: (DecodedChunk, [UInt8])] = [:]

        init(settings: RTMPClientSession.Settings = RTMPClientSessionTests.settings) throws {
            channel = EmbeddedChannel(
                handler: RTMPClientSession(settings: settings, environment: RTMPClientSessionTests.environment(refusals: refusals)), loop: loop)
            try channel.connect(to: RTMPClientSessionTests.peer).wait()
            #expect(channel.isActive)
        }

        /// After the handshake: reads S0/S1/S2 off the outbound side.
        static func handshaken(settings: RTMPClientSession.Settings = RTMPClientSessionTests.settings) throws -> Client {
            let client = try Client(settings: settings)
            try client.send(RTMPClientSessionTests.handshake)
            #expect(try client.outbound().count == 1 + 2 * 1536)
            return client
        }

        func send(_ bytes: [UInt8]) throws {
            try channel.writeInbound(ByteBuffer(bytes: bytes))
        }

        func send(_ command: RTMPCommand) throws {
            try send(RTMPClientSessionTests.chunks(command))
        }

        /// Every byte written to the client since the last call.
        func outbound() throws -> [UInt8] {
            var bytes: [UInt8] = []
            while let buffer = try channel.readOutbound(as: ByteBuffer.self) {
                bytes += buffer.readableBytesView
            }
            return bytes
        }

        /// The messages written to the client since the last call (after the handshake).
        func messages() throws -> [Sent] {
            pending.writeBytes(try outbound())
            var sent: [Sent] = []
            while let chunk = try decoder.next(&pending) {
                let c = DecodedChunk(chunk)
                if c.first { partial[c.csid] = (c, []) }
                partial[c.csid]!.1 += c.payload
                if c.last, let (head, payload) = partial.removeValue(forKey: c.csid) {
                    sent.append(Sent(csid: head.csid, type: head.type, streamID: head.streamID, payload: payload))
                }
            }
            #expect(pending.readableBytes == 0, "the proxy writes whole messages")
            return sent
        }

        /// Closes what is still open and cancels what is still scheduled.
        func finish() throws {
            _ = try channel.finish(acceptAlreadyClosed: true)
        }
    }

    // MARK: Handshake

    @Test func handshakeAnswersS0S1S2() throws {
        let client = try Client()
        try client.send([3] + Self.c1)
        let out = try client.outbound()
        #expect(out.count == 1 + 2 * 1536)
        #expect(out.first == 3, "S0: version 3")
        #expect(Array(out[5..<9]) == [0, 0, 0, 0], "S1 bytes 4-7 are zero: the plain handshake")
        #expect(Array(out[1537...]) == Self.c1, "S2 echoes C1")
        try client.send(Self.c2)
        #expect(try client.outbound().isEmpty, "nothing more until a command")
        #expect(client.channel.isActive)
        try client.finish()
    }

    @Test func handshakeInPiecesAndCommandsInTheSameRead() throws {
        let client = try Client()
        let input = Self.handshake + Self.chunks(Self.connect())
        for piece in stride(from: 0, to: input.count, by: 97) {
            try client.send(Array(input[piece..<min(input.count, piece + 97)]))
            if piece == 0 { #expect(try client.outbound().isEmpty, "no answer before the whole C1") }
        }
        let out = try client.outbound()
        #expect(Array(out[1537..<3073]) == Self.c1)
        #expect(client.channel.isActive)

        // C0 + C1 + C2 + connect in one read.
        let whole = try Client()
        try whole.send(input)
        let answer = try whole.outbound()
        #expect(answer.count == out.count)
        #expect(Array(answer[1537...]) == Array(out[1537...]), "same S2 and connect replies")
        try client.finish()
        try whole.finish()
    }

    // MARK: Commands answered by the proxy

    @Test func connectIsAcceptedWithWindowAckSizeAndPeerBandwidth() throws {
        let client = try Client.handshaken()
        try client.send(Self.connect())
        let sent = try client.messages()
        try #require(sent.count == 3)
        #expect(sent[0].type == RTMPMessageType.windowAckSize && sent[0].streamID == 0 && sent[0].csid == 2)
        #expect(sent[0].payload == Wire.be32(2_500_000))
        #expect(sent[1].type == RTMPMessageType.setPeerBandwidth && sent[1].streamID == 0)
        #expect(sent[1].payload == Wire.be32(2_500_000) + [2])
        let result = try #require(sent[2].command)
        #expect(result.name == "_result" && result.transactionID == 1)
        #expect(sent[2].info?["code"] == .string("NetConnection.Connect.Success"))
        #expect(sent[2].info?["level"] == .string("status"))
        #expect(sent[2].info?["objectEncoding"] == .number(0))
        #expect(result.commandObject.object?["fmsVer"]?.string != nil)
        #expect(client.channel.isActive)
        try client.finish()
    }

    @Test func connectSplitAcrossChunksIsAnsweredOnItsLastChunk() throws {
        let client = try Client.handshaken()
        let bytes = Self.chunks(Self.connect())
        #expect(bytes.count > 128 + 12, "the command spans two chunks")
        try client.send(Array(bytes[..<(12 + 128)]))
        #expect(try client.messages().isEmpty)
        try client.send(Array(bytes[(12 + 128)...]))
        #expect(try client.messages().compactMap(\.command).map(\.name) == ["_result"])
        try client.finish()
    }

    @Test func setChunkSizeOnACommandStreamIsFollowed() throws {
        // As nginx-rtmp reads it: type 1 counts whatever chunk stream and message stream carry it.
        let client = try Client.handshaken()
        let setChunkSize = Wire.header(fmt: 0, csid: 3, length: 4, type: 1, streamID: 1) + Wire.be32(4096)
        let connect = Self.message(payload: Array(Self.connect().encoded().readableBytesView), type: 20, csid: 3, streamID: 0, chunkSize: 4096)
        try client.send(setChunkSize + connect)
        #expect(try client.messages().compactMap(\.command).map(\.name) == ["_result"])
        #expect(client.channel.isActive)
        try client.finish()
    }

    @Test func publishPreparationCommandsAreAnswered() throws {
        let client = try Client.handshaken()
        try client.send(Self.connect())
        _ = try client.messages()
        try client.send(RTMPCommand(name: "releaseStream", transactionID: 2, arguments: [.string("stream")]))
        try client.send(RTMPCommand(name: "FCPublish", transactionID: 3, arguments: [.string("stream")]))
        try client.send(RTMPCommand(name: "createStream", transactionID: 4))
        try client.send(RTMPCommand(name: "_checkbw", transactionID: 5))
        let replies = try client.messages().compactMap(\.command)
        #expect(replies.map(\.name) == ["_result", "_result", "_result"], "_checkbw is not answered by the proxy")
        #expect(replies.map(\.transactionID) == [2, 3, 4])
        #expect(replies[0].arguments == [.undefined])
        #expect(replies[2].arguments == [.number(1)], "createStream gives stream id 1")
        #expect(client.channel.isActive)
        try client.finish()
    }

    // MARK: No backend

    /// Runs a session on NIOAsyncTestingChannel: routing runs in a Task and completes on the
    /// channel's event loop from another thread, which EmbeddedEventLoop does not allow.
    static func refusedWithoutBackend(
        _ commands: [RTMPCommand], hooks: any ProxyHooks = NoHooks()
    ) async throws -> (sent: [Sent], closed: Bool, refusals: [RTMPRefusal: UInt64]) {
        let loop = NIOAsyncTestingEventLoop()
        let refusals = ReasonCounters<RTMPRefusal>()
        let environment = Self.environment(hooks: hooks, refusals: refusals)
        let channel = try await NIOAsyncTestingChannel(loop: loop) { channel in
            try channel.pipeline.syncOperations.addHandler(RTMPClientSession(settings: Self.settings, environment: environment))
        }
        try await channel.connect(to: Self.peer).get()
        try await channel.writeInbound(ByteBuffer(bytes: Self.handshake + commands.flatMap { Self.chunks($0) }))
        // Readiness poll: the refusal arrives when the routing task has finished (within
        // milliseconds; the bound is generous because long synchronous tests running in parallel
        // can hold every thread of the cooperative pool the routing task needs).
        let deadline = ContinuousClock.now + .seconds(30)
        while channel.isActive, ContinuousClock.now < deadline {
            await loop.run()
            try await Task.sleep(for: .milliseconds(10))
        }
        let closed = !channel.isActive
        var bytes = ByteBuffer()
        while var buffer = try await channel.readOutbound(as: ByteBuffer.self) {
            bytes.writeBuffer(&buffer)
        }
        _ = try await channel.finish(acceptAlreadyClosed: true)
        await loop.shutdownGracefully()

        let s0s1s2 = bytes.readSlice(length: 1 + 2 * 1536)
        #expect(s0s1s2?.getInteger(at: s0s1s2!.readerIndex, as: UInt8.self) == 3)
        var decoder = RTMPChunkDecoder()
        var chunks: [DecodedChunk] = []
        while let chunk = try decoder.next(&bytes) { chunks.append(DecodedChunk(chunk)) }
        #expect(bytes.readableBytes == 0)
        let sent = DecodedMessage.assemble(chunks).map { Sent(csid: $0.csid, type: $0.type, streamID: $0.streamID, payload: $0.payload) }
        return (sent, closed, Self.counted(refusals))
    }

    @Test(arguments: [("publish", "NetStream.Publish.BadName"), ("play", "NetStream.Play.StreamNotFound")])
    func withoutBackendTheClientGetsAnErrorStatusThenTheConnectionCloses(command: String, code: String) async throws {
        let start = command == "publish" ? Self.publish() : Self.play()
        let (sent, closed, refusals) = try await Self.refusedWithoutBackend([Self.connect(), RTMPCommand(name: "createStream", transactionID: 4), start])
        #expect(closed)
        #expect(refusals == [.noBackend: 1])
        let status = try #require(sent.last)
        #expect(status.command?.name == "onStatus")
        #expect(status.streamID == 1, "on the stream createStream gave")
        #expect(status.info?["level"] == .string("error"))
        #expect(status.info?["code"] == .string(code))
        #expect(status.info?["description"]?.string?.isEmpty == false)
    }

    struct Deny: ProxyHooks {
        func authorizePublish(_ event: StreamEvent) async -> HookDecision { .deny("bad token") }
        func report(_ event: StreamEvent) {}
    }

    @Test func aRefusedPublishGetsBadName() async throws {
        let (sent, closed, refusals) = try await Self.refusedWithoutBackend([Self.connect(), Self.publish()], hooks: Deny())
        #expect(closed)
        #expect(refusals == [.publishDenied: 1])
        #expect(sent.last?.info?["code"] == .string("NetStream.Publish.BadName"))
        #expect(sent.last?.info?["description"]?.string?.contains("bad token") == true)
    }

    // MARK: Bad clients

    @Test(arguments: [0x16, 0x47, 0x06, 0x00, 0xFF] as [UInt8])
    func notAnRTMPHandshakeClosesAtOnce(first: UInt8) throws {
        let client = try Client()
        var rng = ByteMutator.Generator(seed: UInt64(first))
        let bytes = [first] + (0..<2000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        try client.send(Array(bytes.prefix(1)))
        #expect(!client.channel.isActive, "the first byte decides")
        #expect(try client.outbound().isEmpty)
        try client.send(Array(bytes.dropFirst()))
        #expect(Self.counted(client.refusals) == [.badHandshake: 1], "counted once")
        try client.finish()
    }

    @Test func aStalledHandshakeTimesOut() throws {
        let client = try Client()
        try client.send([3] + Self.c1.prefix(768))
        client.loop.advanceTime(by: .seconds(9))
        #expect(client.channel.isActive)
        client.loop.advanceTime(by: .seconds(2))
        #expect(!client.channel.isActive)
        #expect(try client.outbound().isEmpty)
        #expect(Self.counted(client.refusals) == [.handshakeTimeout: 1])
        try client.finish()
    }

    @Test func aClientThatNeverSendsC2OrCommandsTimesOut() throws {
        let withoutC2 = try Client()
        try withoutC2.send([3] + Self.c1)
        withoutC2.loop.advanceTime(by: .seconds(11))
        #expect(!withoutC2.channel.isActive)
        try withoutC2.finish()

        let idle = try Client.handshaken()
        try idle.send(Self.connect())
        idle.loop.advanceTime(by: .seconds(9))
        #expect(idle.channel.isActive)
        idle.loop.advanceTime(by: .seconds(2))
        #expect(!idle.channel.isActive, "the handshake timeout covers the commands up to publish/play")
        #expect(Self.counted(idle.refusals) == [.handshakeTimeout: 1])
        try idle.finish()
    }

    /// Nested objects `depth` deep with null at the bottom.
    static func nested(_ depth: Int) -> [UInt8] {
        let open: [UInt8] = [0x03, 0x00, 0x01, 0x61]
        return Array(repeating: open, count: depth).flatMap { $0 } + [0x05] + Array(repeating: [UInt8]([0, 0, 9]), count: depth).flatMap { $0 }
    }

    /// Bytes after a valid handshake that end the connection.
    enum BadInput: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case hugeMessageHeader, hugeCommand, setChunkSizeZero, setChunkSizeTooLarge, tooManyChunkStreams, continuationWithoutHeader
        case truncatedAMFString, nestedAMF100Deep, notACommand
        case publishBeforeConnect, playBeforeConnect, createStreamBeforeConnect, secondConnect, publishWithoutName, badTcUrl
        // Constructs origins read differently: refused before anything is replayed to a backend.
        case abortBeforePublish, splitSetChunkSize, interruptedMessage

        var testDescription: String { rawValue }

        /// The reason the closed connection is counted under.
        var refusal: RTMPRefusal {
            switch self {
            case .hugeMessageHeader, .hugeCommand: .messageTooLarge
            case .setChunkSizeZero, .setChunkSizeTooLarge, .tooManyChunkStreams, .continuationWithoutHeader, .interruptedMessage: .malformedChunk
            case .truncatedAMFString, .nestedAMF100Deep, .notACommand: .malformedCommand
            case .publishBeforeConnect, .playBeforeConnect, .createStreamBeforeConnect, .secondConnect: .commandOutOfOrder
            case .publishWithoutName, .badTcUrl: .noStream
            case .abortBeforePublish, .splitSetChunkSize: .ambiguousControl
            }
        }

        var bytes: [UInt8] {
            let T = RTMPClientSessionTests.self
            let connect = T.chunks(T.connect())
            switch self {
            case .hugeMessageHeader:
                // 0xFFFFFF (16 MiB - 1) is the largest length a header can announce.
                return Wire.header(fmt: 0, csid: 4, length: 0xFF_FFFF, type: 9, streamID: 1) + Wire.pattern(128, seed: 1)
            case .hugeCommand:
                return Wire.header(fmt: 0, csid: 3, length: 300_000, type: 20, streamID: 0) + Wire.pattern(128, seed: 1)
            case .setChunkSizeZero: return Wire.setChunkSize(0) + connect
            case .setChunkSizeTooLarge: return Wire.setChunkSize(0x8000_0000) + connect
            case .tooManyChunkStreams:
                return (2...70).flatMap { Wire.header(fmt: 0, csid: UInt32($0), length: 1, type: 8, streamID: 1) + [0] }
            case .continuationWithoutHeader: return [0xC9] + Wire.pattern(200, seed: 1)
            case .truncatedAMFString:
                let payload: [UInt8] = [0x02, 0x00, 0x07] + Array("con".utf8)
                return T.message(payload: payload, type: 20, csid: 3, streamID: 0)
            case .nestedAMF100Deep:
                let payload = Array(T.connect().encoded().readableBytesView.prefix(19)) + T.nested(100)
                #expect(payload.starts(with: [0x02, 0x00, 0x07]))
                return T.message(payload: payload, type: 20, csid: 3, streamID: 0)
            case .notACommand:
                return T.message(payload: [0x00] + Wire.be32(0) + Wire.be32(0), type: 20, csid: 3, streamID: 0)
            case .publishBeforeConnect: return T.chunks(T.publish(), csid: 8, streamID: 1)
            case .playBeforeConnect: return T.chunks(T.play(), csid: 8, streamID: 1)
            case .createStreamBeforeConnect: return T.chunks(RTMPCommand(name: "createStream", transactionID: 2))
            case .secondConnect: return connect + T.chunks(T.connect(transactionID: 2))
            case .publishWithoutName: return connect + T.chunks(RTMPCommand(name: "publish", transactionID: 5, arguments: [.string("")]))
            case .badTcUrl: return T.chunks(T.connect(tcUrl: "not a url")) + T.chunks(T.publish())
            case .abortBeforePublish:
                return connect + Wire.header(fmt: 0, csid: 2, length: 4, type: 2, streamID: 0) + Wire.be32(3) + T.chunks(T.publish())
            case .splitSetChunkSize:
                // Chunk size 2, then a Set Chunk Size whose 4-byte payload arrives in two chunks.
                return Wire.setChunkSize(2) + Wire.header(fmt: 0, csid: 2, length: 4, type: 1, streamID: 0) + [0, 0] + [0xC2] + [0x10, 0x00]
            case .interruptedMessage:
                return Wire.header(fmt: 0, csid: 3, length: 300, type: 20, streamID: 0) + Wire.pattern(128, seed: 2)
                    + Wire.header(fmt: 0, csid: 3, length: 10, type: 20, streamID: 0) + Wire.pattern(10, seed: 3)
            }
        }
    }

    @Test(arguments: BadInput.allCases) func badInputClosesTheConnection(_ input: BadInput) throws {
        let client = try Client.handshaken()
        try client.send(input.bytes)
        #expect(!client.channel.isActive)
        _ = try client.messages()
        // Whatever follows is ignored.
        try client.send(Self.chunks(Self.connect()))
        #expect(Self.counted(client.refusals) == [input.refusal: 1])
        try client.finish()
    }

    @Test func connectWithoutTcUrlIsRejected() throws {
        let client = try Client.handshaken()
        try client.send(Self.connect(tcUrl: nil))
        #expect(!client.channel.isActive)
        let sent = try client.messages()
        #expect(sent.count == 1)
        let reply = try #require(sent.first?.command)
        #expect(reply.name == "_error" && reply.transactionID == 1)
        #expect(sent.first?.info?["code"] == .string("NetConnection.Connect.Rejected"))
        #expect(sent.first?.info?["level"] == .string("error"))
        try client.finish()

        let empty = try Client.handshaken()
        try empty.send(Self.connect(tcUrl: ""))
        #expect(!empty.channel.isActive)
        #expect(try empty.messages().compactMap(\.command).map(\.name) == ["_error"])
        #expect(Self.counted(client.refusals) == [.noStream: 1] && Self.counted(empty.refusals) == [.noStream: 1])
        try empty.finish()
    }

    @Test func connectWhoseAppDisagreesWithItsTcUrlIsRejected() throws {
        // nginx-rtmp would publish to "other" what the proxy authorised and routed as "live".
        let client = try Client.handshaken()
        try client.send(Self.connect(tcUrl: "rtmp://127.0.0.1:1935/live", app: "other"))
        #expect(!client.channel.isActive)
        let sent = try client.messages()
        #expect(sent.compactMap(\.command).map(\.name) == ["_error"])
        #expect(sent.last?.info?["code"] == .string("NetConnection.Connect.Rejected"))
        #expect(Self.counted(client.refusals) == [.noStream: 1])
        try client.finish()
    }

    @Test func badStreamNameGetsAnErrorStatus() throws {
        let client = try Client.handshaken()
        try client.send(BadInput.badTcUrl.bytes)
        #expect(!client.channel.isActive)
        let sent = try client.messages()
        #expect(sent.compactMap(\.command).map(\.name) == ["_result", "onStatus"], "connect accepted, publish refused")
        #expect(sent.last?.info?["code"] == .string("NetStream.Publish.BadName"))
        try client.finish()
    }

    @Test func clientBytesBeforePublishAreBounded() throws {
        #expect(Self.settings.maxPendingBytes == 1 << 20)
        let client = try Client.handshaken()
        var held = 0
        func send(_ bytes: [UInt8]) throws {
            held += bytes.count
            try client.send(bytes)
            #expect(client.channel.isActive == (held <= Self.settings.maxPendingBytes), "\(held) bytes held")
        }
        try send(Self.chunks(Self.connect()))
        try send(Wire.setChunkSize(65_536))
        var timestamp: UInt32 = 0
        while client.channel.isActive, held < 2 << 20 {
            try send(Self.message(payload: Wire.pattern(60_000, seed: Int(timestamp)), type: 8, csid: 4, streamID: 1, timestamp: timestamp, chunkSize: 65_536))
            timestamp += 23
        }
        #expect(!client.channel.isActive)
        #expect(held > Self.settings.maxPendingBytes && held < Self.settings.maxPendingBytes + 70_000)
        #expect(Self.counted(client.refusals) == [.bufferLimit: 1])
        try client.finish()
    }

    @Test func oneReadOverTheBufferLimitCloses() throws {
        let client = try Client.handshaken()
        try client.send(Self.chunks(Self.connect()))
        var data = Wire.setChunkSize(4096)
        while data.count <= 1 << 20 {
            data += Self.message(payload: Wire.pattern(4000, seed: data.count), type: 9, csid: 6, streamID: 1, chunkSize: 4096)
        }
        try client.send(data)
        #expect(!client.channel.isActive)
        #expect(Self.counted(client.refusals) == [.bufferLimit: 1])
        try client.finish()
    }
}

@Suite struct RTMPClientSessionEndOfInputTests {
    @Test func aClientThatEndsItsOutputBeforeItsStreamIsRelayedIsClosedAtOnce() throws {
        for bytes in [[UInt8](), [3] + [UInt8](repeating: 0, count: 100), RTMPClientSessionTests.handshake] {
            let client = try RTMPClientSessionTests.Client()
            if !bytes.isEmpty { try client.send(bytes) }
            #expect(client.channel.isActive)
            client.channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
            #expect(!client.channel.isActive, "closed without waiting for the handshake timeout")
            try client.finish()
        }
    }
}
