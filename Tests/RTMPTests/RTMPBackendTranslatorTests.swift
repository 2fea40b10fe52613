import NIOCore
import NIOEmbedded
import Testing

@testable import RTMP

/// RTMPBackendTranslator on EmbeddedChannel: backend chunk streams compressed as origins write
/// them (fmt 1/2/3 headers, interleaved chunk streams, chunk size changes, extended timestamps)
/// come out with every message intact and self-contained (fmt 0 first chunk, absolute timestamp,
/// the client's stream id), the replies the proxy already gave are dropped, and the backend's
/// publish/play status decides the setup.
@Suite struct RTMPBackendTranslatorTests {
    // MARK: Backend bytes

    /// A backend's chunk stream, headers written by hand with the format the caller picks, and
    /// what the client should receive.
    struct BackendStream {
        struct Message {
            var csid: UInt32
            var type: UInt8
            var timestamp: UInt32
            var streamID: UInt32
            var payload: [UInt8]
            var forwarded: Bool
            var chunkSizes: [Int]
        }

        var bytes: [UInt8] = []
        var chunkSize = 128
        var messages: [Message] = []
        private var last: [UInt32: (timestamp: UInt32, field: UInt32, length: Int, type: UInt8, streamID: UInt32, extended: Bool)] = [:]

        /// The chunks of one message: a header of format `fmt`, then fmt 3 continuations. Not
        /// appended to `bytes`, so the caller can interleave them with other chunk streams.
        mutating func chunks(
            fmt: UInt8, csid: UInt32, timestamp: UInt32, type: UInt8, streamID: UInt32 = 1, payload: [UInt8], forwarded: Bool = true
        ) -> [[UInt8]] {
            let previous = last[csid]
            var field = timestamp
            if fmt > 0 {
                guard let previous, previous.streamID == streamID else { preconditionFailure("fmt \(fmt) needs the same stream id on csid \(csid)") }
                field = timestamp &- previous.timestamp
                precondition(fmt < 2 || (previous.length == payload.count && previous.type == type), "fmt \(fmt) keeps length and type")
                precondition(fmt < 3 || previous.field == field, "fmt 3 repeats the previous delta")
            }
            let extended = fmt == 3 ? previous!.extended : field >= 0xFF_FFFF
            var result: [[UInt8]] = []
            var offset = 0
            repeat {
                let n = min(chunkSize, payload.count - offset)
                var chunk =
                    offset == 0
                    ? Wire.header(fmt: fmt, csid: csid, timestamp: field, length: payload.count, type: type, streamID: streamID, extended: extended ? field : nil)
                    : Wire.header(fmt: 3, csid: csid, extended: extended ? field : nil)
                chunk += payload[offset..<(offset + n)]
                result.append(chunk)
                offset += n
            } while offset < payload.count
            last[csid] = (timestamp, field, payload.count, type, streamID, extended)
            messages.append(
                Message(
                    csid: csid, type: type, timestamp: timestamp, streamID: streamID, payload: payload, forwarded: forwarded,
                    chunkSizes: result.count == 1 ? [payload.count] : stride(from: 0, to: payload.count, by: chunkSize).map { min(chunkSize, payload.count - $0) }))
            return result
        }

        mutating func append(_ chunks: [[UInt8]]) {
            bytes += chunks.joined()
        }

        mutating func message(fmt: UInt8, csid: UInt32, timestamp: UInt32, type: UInt8, streamID: UInt32 = 1, payload: [UInt8], forwarded: Bool = true) {
            append(chunks(fmt: fmt, csid: csid, timestamp: timestamp, type: type, streamID: streamID, payload: payload, forwarded: forwarded))
        }

        /// Chunks of several messages, one from each in turn.
        mutating func interleave(_ streams: [[UInt8]]...) {
            for i in 0..<(streams.map(\.count).max() ?? 0) {
                for stream in streams where i < stream.count {
                    bytes += stream[i]
                }
            }
        }

        mutating func command(_ command: RTMPCommand, fmt: UInt8 = 0, csid: UInt32 = 3, streamID: UInt32 = 0, forwarded: Bool = true) {
            message(
                fmt: fmt, csid: csid, timestamp: 0, type: RTMPMessageType.commandAMF0, streamID: streamID,
                payload: Array(command.encoded().readableBytesView), forwarded: forwarded)
        }

        mutating func setChunkSize(_ size: Int) {
            message(fmt: 0, csid: 2, timestamp: 0, type: RTMPMessageType.setChunkSize, streamID: 0, payload: Wire.be32(UInt32(size)))
            chunkSize = size
        }

        /// What the client must receive, per chunk stream, in order.
        var expected: [UInt32: [DecodedMessage]] {
            Dictionary(grouping: messages.filter(\.forwarded), by: \.csid).mapValues { list in
                list.map {
                    DecodedMessage(
                        csid: $0.csid, timestamp: $0.timestamp, type: $0.type == RTMPMessageType.commandAMF3 ? RTMPMessageType.commandAMF0 : $0.type,
                        streamID: $0.streamID == 0 ? 0 : 1, payload: $0.payload)
                }
            }
        }

        var expectedChunkSizes: [UInt32: [Int]] {
            Dictionary(grouping: messages.filter(\.forwarded), by: \.csid).mapValues { $0.flatMap(\.chunkSizes) }
        }
    }

    static func status(_ code: String, level: String = "status", description: String? = nil) -> RTMPCommand {
        RTMPCommand(
            name: "onStatus", transactionID: 0, commandObject: .null,
            arguments: [.object(["level": .string(level), "code": .string(code), "description": .string(description ?? "\(code) (test)")])])
    }

    static let connectResult = RTMPCommand(
        name: "_result", transactionID: 1, commandObject: .object(["fmsVer": .string("FMS/3,0,1,123"), "capabilities": .number(31)]),
        arguments: [.object(["level": .string("status"), "code": .string("NetConnection.Connect.Success")])])
    static let onBWDone = RTMPCommand(name: "onBWDone", transactionID: 0, arguments: [.number(8192)])

    /// A play session as nginx-rtmp sends it: control, command replies, status, data, then audio
    /// (csid 4) and video (csid 6) with compressed headers, a chunk size change and extended
    /// timestamps. `large` picks nginx's sizes (4096-byte chunks, 10 kB frames), otherwise
    /// everything is small enough to split at every byte.
    static func playSession(large: Bool) -> BackendStream {
        let big = large ? 10_000 : 600
        let chunkSize = large ? 4096 : 256
        var s = BackendStream()
        s.message(fmt: 0, csid: 2, timestamp: 0, type: RTMPMessageType.windowAckSize, streamID: 0, payload: Wire.be32(5_000_000))
        s.message(fmt: 1, csid: 2, timestamp: 0, type: RTMPMessageType.setPeerBandwidth, streamID: 0, payload: Wire.be32(5_000_000) + [2])
        s.command(connectResult, forwarded: false)
        s.command(onBWDone, fmt: 1)
        s.command(RTMPCommand(name: "_result", transactionID: 4, arguments: [.number(1)]), fmt: 1, forwarded: false)
        s.command(RTMPCommand(name: "_result", transactionID: 9, arguments: [.null]), fmt: 1)
        s.message(fmt: 0, csid: 2, timestamp: 0, type: RTMPMessageType.userControl, streamID: 0, payload: [0, 0, 0, 0, 0, 1])
        s.command(status("NetStream.Play.Start"), csid: 5, streamID: 1)
        s.message(fmt: 0, csid: 5, timestamp: 0, type: RTMPMessageType.dataAMF0, payload: Array(RTMPCommand(name: "|RtmpSampleAccess", transactionID: 0).encoded().readableBytesView))
        s.message(fmt: 1, csid: 5, timestamp: 0, type: RTMPMessageType.dataAMF0, payload: Wire.pattern(300, seed: 1))
        // Sequence headers, then a keyframe interleaved with audio in fmt 1, 2 and 3.
        s.append(s.chunks(fmt: 0, csid: 4, timestamp: 0, type: 8, payload: Wire.pattern(4, seed: 2)))
        s.append(s.chunks(fmt: 0, csid: 6, timestamp: 0, type: 9, payload: Wire.pattern(40, seed: 3)))
        let keyframe = s.chunks(fmt: 1, csid: 6, timestamp: 0, type: 9, payload: Wire.pattern(300, seed: 4))
        let a1 = s.chunks(fmt: 1, csid: 4, timestamp: 23, type: 8, payload: Wire.pattern(20, seed: 5))
        let a2 = s.chunks(fmt: 2, csid: 4, timestamp: 46, type: 8, payload: Wire.pattern(20, seed: 6))
        let a3 = s.chunks(fmt: 3, csid: 4, timestamp: 69, type: 8, payload: Wire.pattern(20, seed: 7))
        s.interleave(keyframe, a1 + a2 + a3)
        s.message(fmt: 2, csid: 6, timestamp: 33, type: 9, payload: Wire.pattern(300, seed: 8))
        s.message(fmt: 3, csid: 6, timestamp: 66, type: 9, payload: Wire.pattern(300, seed: 9))
        s.message(fmt: 1, csid: 6, timestamp: 100, type: 9, payload: Wire.pattern(50, seed: 10))
        // The backend raises its chunk size; larger frames follow.
        s.setChunkSize(chunkSize)
        let frame = s.chunks(fmt: 1, csid: 6, timestamp: 133, type: 9, payload: Wire.pattern(big, seed: 11))
        let a4 = s.chunks(fmt: 3, csid: 4, timestamp: 92, type: 8, payload: Wire.pattern(20, seed: 12))
        s.interleave(frame, a4)
        // A command longer than 128 bytes: re-chunked at the backend's new chunk size.
        s.command(status("NetStream.Play.PublishNotify", description: String(repeating: "long ", count: 60)), fmt: 1, csid: 5, streamID: 1)
        // Extended timestamps: absolute on fmt 0, as a delta reused by fmt 3, then back below.
        s.message(fmt: 0, csid: 6, timestamp: 0x0100_0000, type: 9, payload: Wire.pattern(big / 2, seed: 13))
        s.message(fmt: 3, csid: 6, timestamp: 0x0200_0000, type: 9, payload: Wire.pattern(big / 2, seed: 14))
        s.message(fmt: 1, csid: 6, timestamp: 0x0200_0021, type: 9, payload: Wire.pattern(100, seed: 15))
        s.message(fmt: 0, csid: 4, timestamp: 0x0200_0000, type: 8, payload: Wire.pattern(20, seed: 16))
        // Another backend message stream id maps to the client's stream too.
        s.message(fmt: 0, csid: 8, timestamp: 7, type: RTMPMessageType.dataAMF0, streamID: 3, payload: Wire.pattern(10, seed: 17))
        // Once the stream started, replies are no longer filtered.
        s.command(connectResult)
        return s
    }

    // MARK: Harness

    final class Outcomes {
        var list: [String] = []
    }

    /// A translator in an EmbeddedChannel; the proxy answered transactions 1-4, 4 being createStream.
    final class Translation {
        let channel: EmbeddedChannel
        let outcomes = Outcomes()

        init(answered: Set<Double> = [1, 2, 3, 4], createStreamTransaction: Double? = 4) {
            let outcomes = self.outcomes
            let translator = RTMPBackendTranslator(answered: answered, createStreamTransaction: createStreamTransaction, limits: .init()) { outcome in
                switch outcome {
                case .started(let code): outcomes.list.append("started \(code)")
                case .refused(let why): outcomes.list.append("refused \(why)")
                }
            }
            channel = EmbeddedChannel(handler: translator)
        }

        func feed(_ bytes: some Collection<UInt8>) throws {
            try channel.writeInbound(ByteBuffer(bytes: bytes))
        }

        /// Every buffer passed on since the last call.
        func buffers() throws -> [ByteBuffer] {
            var list: [ByteBuffer] = []
            while let buffer = try channel.readInbound(as: ByteBuffer.self) { list.append(buffer) }
            return list
        }

        func output() throws -> ByteBuffer {
            var out = ByteBuffer()
            for var buffer in try buffers() { out.writeBuffer(&buffer) }
            return out
        }
    }

    /// The client's view of the output: messages and chunk sizes per chunk stream, after checking
    /// that every message starts with a fmt 0 chunk and continues with fmt 3 chunks.
    static func read(_ output: ByteBuffer) throws -> (messages: [UInt32: [DecodedMessage]], chunkSizes: [UInt32: [Int]]) {
        var buffer = output
        var decoder = RTMPChunkDecoder()
        var chunks: [DecodedChunk] = []
        while true {
            let fmt = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self).map { $0 >> 6 }
            guard let chunk = try decoder.next(&buffer) else { break }
            #expect(fmt == (chunk.isFirst ? 0 : 3), "chunk \(chunks.count) on csid \(chunk.csid)")
            chunks.append(DecodedChunk(chunk))
        }
        #expect(buffer.readableBytes == 0, "the output is whole chunks")
        return (
            Dictionary(grouping: DecodedMessage.assemble(chunks), by: \.csid),
            Dictionary(grouping: chunks, by: \.csid).mapValues { $0.map(\.payload.count) }
        )
    }

    // MARK: Relaying

    @Test(arguments: [true, false]) func playSessionArrivesIntact(large: Bool) throws {
        let session = Self.playSession(large: large)
        let t = Translation()
        try t.feed(session.bytes)
        let (messages, chunkSizes) = try Self.read(try t.output())
        #expect(messages == session.expected)
        #expect(chunkSizes == session.expectedChunkSizes, "one client chunk per backend chunk, same sizes")
        #expect(t.outcomes.list == ["started NetStream.Play.Start"])
        let commands = (messages[3] ?? []).compactMap { try? RTMPCommand(decoding: ByteBuffer(bytes: $0.payload), amf3: false) }
        #expect(commands.map(\.name) == ["onBWDone", "_result", "_result"])
        #expect(commands.map(\.transactionID) == [0, 9, 1], "the replies to connect and createStream are dropped until the stream starts")
        #expect(messages[6]?.map(\.timestamp) == [0, 0, 33, 66, 100, 133, 0x0100_0000, 0x0200_0000, 0x0200_0021])
        #expect(messages[4]?.map(\.timestamp) == [0, 23, 46, 69, 92, 0x0200_0000])
    }

    @Test func publishSetupCallsOnSetupWithStarted() throws {
        var s = BackendStream()
        s.command(Self.connectResult, forwarded: false)
        s.command(Self.onBWDone)
        s.command(RTMPCommand(name: "_result", transactionID: 2, arguments: [.undefined]), forwarded: false)
        s.command(RTMPCommand(name: "onFCPublish", transactionID: 0, arguments: [.object(["code": .string("NetStream.Publish.Start")])]))
        s.command(RTMPCommand(name: "_result", transactionID: 3, arguments: [.undefined]), forwarded: false)
        s.command(RTMPCommand(name: "_result", transactionID: 4, arguments: [.number(1)]), forwarded: false)
        let t = Translation()
        try t.feed(s.bytes)
        #expect(t.outcomes.list.isEmpty, "no status yet")
        var start = BackendStream()
        start.command(Self.status("NetStream.Publish.Start"), csid: 5, streamID: 1)
        try t.feed(start.bytes)
        #expect(t.outcomes.list == ["started NetStream.Publish.Start"])
        let (messages, _) = try Self.read(try t.output())
        #expect(messages[3] == s.expected[3])
        #expect(messages[5] == start.expected[5])
        #expect(messages[5]?.first?.streamID == 1)

        // Later statuses are only relayed.
        var later = BackendStream()
        later.command(Self.status("NetStream.Publish.Start"), csid: 5, streamID: 1)
        later.command(Self.status("NetStream.Unpublish.Success"), csid: 5, streamID: 1)
        try t.feed(later.bytes)
        #expect(t.outcomes.list.count == 1)
        #expect(try Self.read(try t.output()).messages[5]?.count == 2)
    }

    @Test func anErrorForAnAnsweredTransactionRefusesTheSetup() throws {
        var s = BackendStream()
        s.command(
            RTMPCommand(
                name: "_error", transactionID: 1,
                arguments: [.object(["level": .string("error"), "code": .string("NetConnection.Connect.Rejected"), "description": .string("no app")])]))
        s.command(Self.status("NetStream.Publish.Start"), csid: 5, streamID: 1)
        let t = Translation()
        try t.feed(s.bytes)
        #expect(t.outcomes.list == ["refused NetConnection.Connect.Rejected: no app"], "decided once")
        let (messages, _) = try Self.read(try t.output())
        #expect(messages == s.expected, "the client gets the backend's own _error (docs/protocols/rtmp.md, errors)")
        #expect(messages[3]?.count == 1)
    }

    @Test func anErrorForAnotherTransactionIsRelayed() throws {
        var s = BackendStream()
        s.command(RTMPCommand(name: "_error", transactionID: 7, arguments: [.object(["code": .string("x")])]))
        let t = Translation()
        try t.feed(s.bytes)
        #expect(t.outcomes.list.isEmpty)
        #expect(try Self.read(try t.output()).messages == s.expected)
    }

    @Test func anErrorStatusRefusesTheSetupAndIsRelayed() throws {
        var s = BackendStream()
        s.command(Self.status("NetStream.Play.StreamNotFound", level: "error"), csid: 5, streamID: 1)
        let t = Translation()
        try t.feed(s.bytes)
        #expect(t.outcomes.list == ["refused NetStream.Play.StreamNotFound: NetStream.Play.StreamNotFound (test)"])
        #expect(try Self.read(try t.output()).messages == s.expected)
    }

    @Test func aDifferentStreamIDFromCreateStreamIsAnError() throws {
        var s = BackendStream()
        s.command(RTMPCommand(name: "_result", transactionID: 4, arguments: [.number(2)]), forwarded: false)
        let t = Translation()
        #expect(throws: RTMPError.streamIDMismatch(proxy: 1, backend: 2)) { try t.feed(s.bytes) }
        #expect(try t.output().readableBytes == 0)

        // Another answered transaction may carry any number.
        var other = BackendStream()
        other.command(RTMPCommand(name: "_result", transactionID: 3, arguments: [.number(2)]), forwarded: false)
        let u = Translation()
        try u.feed(other.bytes)
        #expect(try u.output().readableBytes == 0)

        // Without a createStream transaction nothing is compared.
        let v = Translation(createStreamTransaction: nil)
        try v.feed(s.bytes)
        #expect(try v.output().readableBytes == 0)
    }

    @Test func amf3CommandsAreRelayedAsAMF0() throws {
        let status = Self.status("NetStream.Play.Start")
        var s = BackendStream()
        s.message(fmt: 0, csid: 5, timestamp: 0, type: RTMPMessageType.commandAMF3, payload: [0] + Array(status.encoded().readableBytesView))
        let t = Translation()
        try t.feed(s.bytes)
        #expect(t.outcomes.list == ["started NetStream.Play.Start"])
        let messages = try Self.read(try t.output()).messages
        #expect(messages[5] == [DecodedMessage(csid: 5, timestamp: 0, type: RTMPMessageType.commandAMF0, streamID: 1, payload: Array(status.encoded().readableBytesView))])
    }

    @Test func aMalformedBackendCommandIsAnError() throws {
        var s = BackendStream()
        s.message(fmt: 0, csid: 3, timestamp: 0, type: RTMPMessageType.commandAMF0, streamID: 0, payload: [0x02, 0x00, 0x09, 0x61])
        let t = Translation()
        let error = #expect(throws: RTMPError.self) { try t.feed(s.bytes) }
        guard case .badCommand = error else {
            Issue.record("\(String(describing: error))")
            return
        }
    }

    @Test func setChunkSizeIsRelayedAndLargerChunksFollowOneToOne() throws {
        var s = BackendStream()
        s.setChunkSize(4096)
        s.message(fmt: 0, csid: 6, timestamp: 40, type: 9, payload: Wire.pattern(10_000, seed: 1))
        let t = Translation()
        try t.feed(s.bytes)
        let buffers = try t.buffers()
        #expect(buffers.map(\.readableBytes) == [12, 4, 12, 4096, 1, 4096, 1, 1808], "header, payload slice, header, payload slice...")
        #expect(Array(buffers[1].readableBytesView) == Wire.be32(4096))
        let payload = Wire.pattern(10_000, seed: 1)
        #expect(Array(buffers[3].readableBytesView) == Array(payload[..<4096]))
        #expect(Array(buffers[5].readableBytesView) == Array(payload[4096..<8192]))
        #expect(Array(buffers[7].readableBytesView) == Array(payload[8192...]))
        var out = ByteBuffer()
        for var buffer in buffers { out.writeBuffer(&buffer) }
        #expect(try Self.read(out).messages == s.expected)
    }

    // MARK: Incremental reads

    @Test func everySplitIntoTwoReadsGivesTheSameOutput() throws {
        let session = Self.playSession(large: false)
        let input = session.bytes
        let whole = Translation()
        try whole.feed(input)
        let reference = try whole.output()
        #expect(try Self.read(reference).messages == session.expected)
        var mismatches: [Int] = []
        for split in 1..<input.count {
            let t = Translation()
            try t.feed(input[..<split])
            try t.feed(input[split...])
            if try t.output() != reference || t.outcomes.list != whole.outcomes.list { mismatches.append(split) }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) of \(input.count - 1) splits differ, first at \(mismatches.first ?? -1)")
    }

    @Test func byteByByteGivesTheSameOutput() throws {
        let input = Self.playSession(large: false).bytes
        let whole = Translation()
        try whole.feed(input)
        let t = Translation()
        for byte in input {
            try t.feed([byte])
        }
        #expect(try t.output() == whole.output())
        #expect(t.outcomes.list == whole.outcomes.list)
    }
}
