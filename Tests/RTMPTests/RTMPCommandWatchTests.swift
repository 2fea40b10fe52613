import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import ProxyNet
import Testing

@testable import RTMP

/// RTMPChunkScanner and RTMPCommandWatch: the relayed client's commands are seen wherever the
/// reads split its chunks, media is passed untouched, and a second publish/play/connect closes
/// the connection.
@Suite struct RTMPCommandWatchTests {
    typealias T = RTMPClientSessionTests

    static func scanner(chunkSize: Int = 128) -> RTMPChunkScanner {
        RTMPChunkScanner(decoder: RTMPChunkDecoder(limits: .init(strict: true)), assembler: RTMPMessageAssembler(maxSize: 256 * 1024))
    }

    static func command(_ name: String, _ tx: Double, _ args: [AMF0Value] = [], csid: UInt32 = 3, streamID: UInt32 = 0) -> [UInt8] {
        T.chunks(RTMPCommand(name: name, transactionID: tx, arguments: args), csid: csid, streamID: streamID)
    }

    /// A publisher's bytes after its publish: media on two chunk streams, a Set Chunk Size, media at
    /// the new size, deleteStream and then a publish of another stream.
    static let session: [UInt8] = {
        var bytes: [UInt8] = []
        bytes += T.message(payload: Wire.pattern(5000, seed: 1), type: RTMPMessageType.video, csid: 6, streamID: 1, timestamp: 40)
        bytes += T.message(payload: Wire.pattern(300, seed: 2), type: RTMPMessageType.audio, csid: 4, streamID: 1, timestamp: 0xFF_FFFF + 5)
        bytes += command("FCUnpublish", 8, [.string("one")])
        bytes += T.message(payload: [0, 0, 0x10, 0], type: RTMPMessageType.setChunkSize, csid: 2, streamID: 0)
        bytes += T.message(payload: Wire.pattern(9000, seed: 3), type: RTMPMessageType.video, csid: 6, streamID: 1, timestamp: 80, chunkSize: 4096)
        bytes += T.chunks(RTMPCommand(name: "deleteStream", transactionID: 9, arguments: [.number(1)]), csid: 3)
        bytes += command("publish", 10, [.string("other"), .string("live")], csid: 8, streamID: 1)
        return bytes
    }()

    static func names(_ pieces: [ArraySlice<UInt8>]) throws -> [String] {
        var scanner = Self.scanner()
        var names: [String] = []
        for piece in pieces {
            try scanner.scan(ByteBuffer(bytes: piece)) { payload, amf3 in
                names.append((try? RTMPCommand(decoding: payload, amf3: amf3))?.name ?? "?")
            }
        }
        return names
    }

    @Test func everyCommandIsSeenWhereverTheReadsSplitTheChunks() throws {
        let expected = ["FCUnpublish", "deleteStream", "publish"]
        #expect(try Self.names([Self.session[...]]) == expected)
        // Every split into two reads, then reads of 1, 7 and 1000 bytes.
        for cut in 1..<Self.session.count {
            let names = try Self.names([Self.session[..<cut], Self.session[cut...]])
            #expect(names == expected, "split at \(cut)")
            if names != expected { return }
        }
        for size in [1, 7, 1000] {
            let pieces = stride(from: 0, to: Self.session.count, by: size).map { Self.session[$0..<min($0 + size, Self.session.count)] }
            #expect(try Self.names(pieces) == expected, "reads of \(size) bytes")
        }
    }

    @Test func abortAndASplitSetChunkSizeAreRefused() throws {
        var scanner = Self.scanner()
        let abort = T.message(payload: [0, 0, 0, 6], type: RTMPMessageType.abort, csid: 2, streamID: 0)
        #expect(throws: RTMPError.ambiguousControl("Abort")) { try scanner.scan(ByteBuffer(bytes: abort)) { _, _ in } }
        var other = Self.scanner()
        // A chunk size of 2, then a Set Chunk Size in two chunks of it.
        let split = T.message(payload: [0, 0, 0, 2], type: RTMPMessageType.setChunkSize, csid: 2, streamID: 0)
            + T.message(payload: [0, 0, 0x10, 0], type: RTMPMessageType.setChunkSize, csid: 2, streamID: 0, chunkSize: 2)
        #expect(throws: RTMPError.ambiguousControl("a Set Chunk Size split over chunks")) { try other.scan(ByteBuffer(bytes: split)) { _, _ in } }
    }

    @Test func aCommandOverTheLimitIsRefusedBeforeItIsHeld() throws {
        var scanner = Self.scanner()
        // Only the header of a 300 KiB command: refused before any of its payload arrives.
        let header: [UInt8] = [0x03, 0, 0, 0, 0x04, 0xB0, 0x00, RTMPMessageType.commandAMF0, 0, 0, 0, 0]
        #expect(throws: RTMPError.messageTooLarge(300 * 1024, limit: 256 * 1024)) { try scanner.scan(ByteBuffer(bytes: header)) { _, _ in } }
    }

    @Test func theWatchPassesBytesUnchangedAndClosesOnASecondPublish() throws {
        let refused = NIOLockedValueBox<[RTMPError]>([])
        let watch = RTMPCommandWatch(scanner: Self.scanner(), logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })) { error in
            refused.withLockedValue { $0.append(error) }
        }
        let channel = EmbeddedChannel(handler: watch)
        try channel.connect(to: T.peer).wait()
        let cut = Self.session.count - Self.command("publish", 10, [.string("other"), .string("live")], csid: 8, streamID: 1).count
        try channel.writeInbound(ByteBuffer(bytes: Self.session[..<cut]))
        var passed: [UInt8] = []
        while let b = try channel.readInbound(as: ByteBuffer.self) { passed += b.readableBytesView }
        #expect(passed == Array(Self.session[..<cut]), "media and harmless commands pass unchanged")
        #expect(channel.isActive)

        try channel.writeInbound(ByteBuffer(bytes: Self.session[cut...]))
        #expect(try channel.readInbound(as: ByteBuffer.self) == nil, "the publish never reaches the backend")
        #expect(!channel.isActive, "the connection is closed")
        #expect(refused.withLockedValue { $0 } == [.streamChange("publish")])
        _ = try? channel.finish(acceptAlreadyClosed: true)
    }

    @Test(arguments: [
        ("rtmp://h/live", "live", true), ("rtmp://h:1935/live/", "/live", true), ("rtmp://h/live?vhost=v", "live?vhost=v", true),
        ("rtmp://h/a/b", "a/b", true), ("rtmp://h/live", "other", false), ("rtmp://h/live", "", false),
        ("rtmp://h", "", true), ("rtmp://h/live", "live/x", false), ("no-scheme/live", "other", true),
    ])
    func connectAppMustNameTheApplicationOfTcUrl(tcUrl: String, app: String, same: Bool) {
        #expect(RTMPClientSession.sameApplication(tcUrl: tcUrl, app: app) == same)
    }
}
