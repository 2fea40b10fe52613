import NIOCore
import ProxyTesting
import Testing

@testable import RTMP

/// Chunk bytes written by hand, independent of RTMPChunkEncoder (RTMP specification, 5.3.1).
enum Wire {
    static func basicHeader(fmt: UInt8, csid: UInt32) -> [UInt8] {
        switch csid {
        case 2...63: [fmt << 6 | UInt8(csid)]
        case 64...319: [fmt << 6, UInt8(csid - 64)]
        default: [fmt << 6 | 1, UInt8((csid - 64) & 0xFF), UInt8((csid - 64) >> 8)]
        }
    }

    static func u24(_ v: UInt32) -> [UInt8] { [UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
    static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
    static func le32(_ v: UInt32) -> [UInt8] { be32(v).reversed() }

    /// A chunk header. `timestamp` is the header's timestamp field (absolute for fmt 0, a delta for
    /// fmt 1 and 2), written as an extended timestamp from 0xFFFFFF up; a fmt 3 header repeats
    /// `extended` when its message header had one.
    static func header(
        fmt: UInt8, csid: UInt32, timestamp: UInt32 = 0, length: Int = 0, type: UInt8 = 0, streamID: UInt32 = 0, extended: UInt32? = nil
    ) -> [UInt8] {
        var b = basicHeader(fmt: fmt, csid: csid)
        if fmt <= 2 { b += u24(min(timestamp, 0xFF_FFFF)) }
        if fmt <= 1 { b += u24(UInt32(length)) + [type] }
        if fmt == 0 { b += le32(streamID) }
        if fmt <= 2, timestamp >= 0xFF_FFFF { b += be32(timestamp) }
        if fmt == 3, let extended { b += be32(extended) }
        return b
    }

    /// The parts, in order (one call instead of a long `+` chain the type checker struggles with).
    static func cat(_ parts: [UInt8]...) -> [UInt8] { Array(parts.joined()) }

    static func setChunkSize(_ size: UInt32) -> [UInt8] { header(fmt: 0, csid: 2, length: 4, type: 1) + be32(size) }
    static func abort(csid: UInt32) -> [UInt8] { header(fmt: 0, csid: 2, length: 4, type: 2) + be32(csid) }

    /// Deterministic filler bytes.
    static func pattern(_ count: Int, seed: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ seed &* 97 &+ ($0 >> 8)) }
    }

    /// Every chunk of `bytes` in one read.
    static func decode(_ bytes: [UInt8], limits: RTMPChunkDecoder.Limits = .init()) throws(RTMPError) -> [DecodedChunk] {
        var feeder = Feeder(limits: limits)
        try feeder.feed(bytes)
        #expect(feeder.buffer.readableBytes == 0, "the whole input is read")
        return feeder.chunks
    }
}

/// An RTMPChunk as plain values.
struct DecodedChunk: Equatable, Sendable, CustomStringConvertible {
    var csid: UInt32
    var timestamp: UInt32
    var length: Int
    var type: UInt8
    var streamID: UInt32
    var first: Bool
    var last: Bool
    var payload: [UInt8]

    init(csid: UInt32, timestamp: UInt32, length: Int, type: UInt8, streamID: UInt32, first: Bool = true, last: Bool = true, payload: [UInt8]) {
        self.csid = csid
        self.timestamp = timestamp
        self.length = length
        self.type = type
        self.streamID = streamID
        self.first = first
        self.last = last
        self.payload = payload
    }

    init(_ c: RTMPChunk) {
        self.init(
            csid: c.csid, timestamp: c.timestamp, length: c.messageLength, type: c.typeID, streamID: c.streamID, first: c.isFirst,
            last: c.isLast, payload: Array(c.payload.readableBytesView))
    }

    var description: String {
        "csid \(csid) ts \(timestamp) len \(length) type \(type) sid \(streamID)\(first ? " first" : "")\(last ? " last" : "") payload \(payload.count)"
    }
}

/// A whole message, reassembled from its chunks.
struct DecodedMessage: Equatable, Sendable, CustomStringConvertible {
    var csid: UInt32
    var timestamp: UInt32
    var type: UInt8
    var streamID: UInt32
    var payload: [UInt8]

    var description: String { "csid \(csid) ts \(timestamp) type \(type) sid \(streamID) payload \(payload.count)" }

    /// Reassembles chunks, checking that continuation chunks carry their first chunk's fields.
    static func assemble(_ chunks: [DecodedChunk]) -> [DecodedMessage] {
        var partial: [UInt32: (DecodedChunk, [UInt8])] = [:]
        var messages: [DecodedMessage] = []
        for chunk in chunks {
            if chunk.first {
                partial[chunk.csid] = (chunk, [])
            } else if let (head, _) = partial[chunk.csid] {
                #expect(
                    chunk.timestamp == head.timestamp && chunk.length == head.length && chunk.type == head.type && chunk.streamID == head.streamID,
                    "continuation \(chunk) of \(head)")
            } else {
                Issue.record("continuation without a first chunk: \(chunk)")
                continue
            }
            partial[chunk.csid]!.1 += chunk.payload
            if chunk.last {
                let (head, payload) = partial.removeValue(forKey: chunk.csid)!
                #expect(payload.count == head.length, "\(head)")
                messages.append(DecodedMessage(csid: head.csid, timestamp: head.timestamp, type: head.type, streamID: head.streamID, payload: payload))
            }
        }
        return messages
    }
}

/// Feeds a decoder piece by piece, checking that each call either consumes bytes and returns a
/// chunk or returns nil and consumes nothing.
struct Feeder {
    var decoder: RTMPChunkDecoder
    var buffer = ByteBuffer()
    var chunks: [DecodedChunk] = []
    var calls = 0

    init(limits: RTMPChunkDecoder.Limits = .init()) {
        decoder = RTMPChunkDecoder(limits: limits)
    }

    mutating func feed(_ bytes: some Sequence<UInt8>) throws(RTMPError) {
        buffer.writeBytes(bytes)
        while true {
            calls += 1
            let readerIndex = buffer.readerIndex
            let readable = buffer.readableBytes
            guard let chunk = try decoder.next(&buffer) else {
                #expect(buffer.readerIndex == readerIndex && buffer.readableBytes == readable, "nil consumes nothing")
                return
            }
            #expect(buffer.readableBytes < readable, "a chunk consumes bytes")
            chunks.append(DecodedChunk(chunk))
        }
    }
}

/// The chunk stream reader: the four header formats, the three basic header forms, extended
/// timestamps, Set Chunk Size and Abort, incremental reads, limits, round trips with the encoder
/// and a seeded mutation loop.
@Suite struct RTMPChunkDecoderTests {
    typealias C = DecodedChunk
    /// A header, positionally: fmt, csid, timestamp field, length, type, stream id, repeated extended timestamp.
    static func h(_ fmt: UInt8, _ csid: UInt32, _ ts: UInt32, _ length: Int, _ type: UInt8, _ sid: UInt32, _ ext: UInt32?) -> [UInt8] {
        Wire.header(fmt: fmt, csid: csid, timestamp: ts, length: length, type: type, streamID: sid, extended: ext)
    }
    static func p(_ count: Int, _ seed: Int) -> [UInt8] { Wire.pattern(count, seed: seed) }

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var bytes: [UInt8]
        var expected: [DecodedChunk]
        var testDescription: String { name }
    }

    // MARK: Header formats

    static let formatCases: [Case] = [
        Case(
            name: "fmt 0: every field, stream id little-endian",
            bytes: [0x03, 0x00, 0x03, 0xE8, 0x00, 0x00, 0x05, 0x14, 0x04, 0x03, 0x02, 0x01] + Array("hello".utf8),
            expected: [C(csid: 3, timestamp: 1000, length: 5, type: 20, streamID: 0x0102_0304, payload: Array("hello".utf8))]),
        Case(
            name: "fmt 1: delta, new length and type, stream id kept",
            bytes: Wire.cat(h(0, 4, 100, 3, 8, 1, nil), [1, 2, 3], h(1, 4, 40, 2, 9, 0, nil), [4, 5]),
            expected: [
                C(csid: 4, timestamp: 100, length: 3, type: 8, streamID: 1, payload: [1, 2, 3]),
                C(csid: 4, timestamp: 140, length: 2, type: 9, streamID: 1, payload: [4, 5]),
            ]),
        Case(
            name: "fmt 2: delta only, length, type and stream id kept",
            bytes: Wire.cat(h(0, 4, 100, 3, 8, 1, nil), [1, 2, 3], h(2, 4, 33, 0, 0, 0, nil), [4, 5, 6]),
            expected: [
                C(csid: 4, timestamp: 100, length: 3, type: 8, streamID: 1, payload: [1, 2, 3]),
                C(csid: 4, timestamp: 133, length: 3, type: 8, streamID: 1, payload: [4, 5, 6]),
            ]),
        Case(
            name: "fmt 3: continuation of a message over the chunk size",
            bytes: Wire.cat(h(0, 3, 7, 200, 20, 0, nil), Array(p(200, 1)[..<128]), h(3, 3, 0, 0, 0, 0, nil), Array(p(200, 1)[128...])),
            expected: [
                C(csid: 3, timestamp: 7, length: 200, type: 20, streamID: 0, first: true, last: false, payload: Array(p(200, 1)[..<128])),
                C(csid: 3, timestamp: 7, length: 200, type: 20, streamID: 0, first: false, last: true, payload: Array(p(200, 1)[128...])),
            ]),
        Case(
            name: "fmt 3 after fmt 2 starts a new message with the same delta",
            bytes: Wire.cat(
                h(0, 4, 100, 2, 8, 1, nil), [1, 1], h(2, 4, 20, 0, 0, 0, nil), [2, 2], h(3, 4, 0, 0, 0, 0, nil), [3, 3],
                h(3, 4, 0, 0, 0, 0, nil), [4, 4]),
            expected: [
                C(csid: 4, timestamp: 100, length: 2, type: 8, streamID: 1, payload: [1, 1]),
                C(csid: 4, timestamp: 120, length: 2, type: 8, streamID: 1, payload: [2, 2]),
                C(csid: 4, timestamp: 140, length: 2, type: 8, streamID: 1, payload: [3, 3]),
                C(csid: 4, timestamp: 160, length: 2, type: 8, streamID: 1, payload: [4, 4]),
            ]),
        Case(
            name: "fmt 3 after fmt 1 reuses its delta, length and type",
            bytes: Wire.cat(h(0, 6, 0, 4, 9, 1, nil), [0, 0, 0, 0], h(1, 6, 33, 2, 9, 0, nil), [1, 1], h(3, 6, 0, 0, 0, 0, nil), [2, 2]),
            expected: [
                C(csid: 6, timestamp: 0, length: 4, type: 9, streamID: 1, payload: [0, 0, 0, 0]),
                C(csid: 6, timestamp: 33, length: 2, type: 9, streamID: 1, payload: [1, 1]),
                C(csid: 6, timestamp: 66, length: 2, type: 9, streamID: 1, payload: [2, 2]),
            ]),
        Case(
            name: "fmt 3 after fmt 0 takes the fmt 0 timestamp as its delta (spec 5.3.1.2.4)",
            bytes: Wire.cat(h(0, 4, 10, 1, 8, 1, nil), [1], h(3, 4, 0, 0, 0, 0, nil), [2]),
            expected: [
                C(csid: 4, timestamp: 10, length: 1, type: 8, streamID: 1, payload: [1]),
                C(csid: 4, timestamp: 20, length: 1, type: 8, streamID: 1, payload: [2]),
            ]),
        Case(
            name: "fmt 3 after a finished multi-chunk message starts a new one",
            bytes: Wire.cat(
                h(0, 4, 0, 130, 8, 1, nil), Array(p(130, 2)[..<128]), h(3, 4, 0, 0, 0, 0, nil), Array(p(130, 2)[128...]),
                h(2, 4, 5, 0, 0, 0, nil), Array(p(130, 3)[..<128]), h(3, 4, 0, 0, 0, 0, nil), Array(p(130, 3)[128...]),
                h(3, 4, 0, 0, 0, 0, nil), Array(p(130, 4)[..<128]), h(3, 4, 0, 0, 0, 0, nil), Array(p(130, 4)[128...])),
            expected: [
                C(csid: 4, timestamp: 0, length: 130, type: 8, streamID: 1, first: true, last: false, payload: Array(p(130, 2)[..<128])),
                C(csid: 4, timestamp: 0, length: 130, type: 8, streamID: 1, first: false, last: true, payload: Array(p(130, 2)[128...])),
                C(csid: 4, timestamp: 5, length: 130, type: 8, streamID: 1, first: true, last: false, payload: Array(p(130, 3)[..<128])),
                C(csid: 4, timestamp: 5, length: 130, type: 8, streamID: 1, first: false, last: true, payload: Array(p(130, 3)[128...])),
                C(csid: 4, timestamp: 10, length: 130, type: 8, streamID: 1, first: true, last: false, payload: Array(p(130, 4)[..<128])),
                C(csid: 4, timestamp: 10, length: 130, type: 8, streamID: 1, first: false, last: true, payload: Array(p(130, 4)[128...])),
            ]),
        Case(
            name: "chunk streams interleave",
            bytes: Wire.cat(
                h(0, 6, 0, 200, 9, 1, nil), Array(p(200, 5)[..<128]), h(0, 4, 3, 2, 8, 1, nil), [7, 7], h(3, 6, 0, 0, 0, 0, nil),
                Array(p(200, 5)[128...])),
            expected: [
                C(csid: 6, timestamp: 0, length: 200, type: 9, streamID: 1, first: true, last: false, payload: Array(p(200, 5)[..<128])),
                C(csid: 4, timestamp: 3, length: 2, type: 8, streamID: 1, payload: [7, 7]),
                C(csid: 6, timestamp: 0, length: 200, type: 9, streamID: 1, first: false, last: true, payload: Array(p(200, 5)[128...])),
            ]),
        Case(
            name: "an empty message is one chunk",
            bytes: Wire.cat(h(0, 3, 0, 0, 20, 0, nil), h(0, 3, 1, 1, 20, 0, nil), [9]),
            expected: [
                C(csid: 3, timestamp: 0, length: 0, type: 20, streamID: 0, payload: []),
                C(csid: 3, timestamp: 1, length: 1, type: 20, streamID: 0, payload: [9]),
            ]),
    ]

    @Test(arguments: formatCases) func headerFormats(_ c: Case) throws {
        #expect(try Wire.decode(c.bytes) == c.expected)
    }

    // MARK: Basic header

    static let basicHeaders: [(csid: UInt32, bytes: [UInt8])] = [
        (2, [0x02]), (3, [0x03]), (63, [0x3F]),
        (64, [0x00, 0x00]), (65, [0x00, 0x01]), (319, [0x00, 0xFF]),
        (320, [0x01, 0x00, 0x01]), (1000, [0x01, 0xA8, 0x03]), (65599, [0x01, 0xFF, 0xFF]),
    ]

    @Test(arguments: basicHeaders) func basicHeaderForms(csid: UInt32, bytes: [UInt8]) throws {
        #expect(Wire.basicHeader(fmt: 0, csid: csid) == bytes)
        var encoded = ByteBuffer()
        RTMPChunkEncoder.writeBasicHeader(fmt: 0, csid: csid, into: &encoded)
        #expect(Array(encoded.readableBytesView) == bytes, "the encoder writes the shortest form")
        var fmt3 = ByteBuffer()
        RTMPChunkEncoder.writeBasicHeader(fmt: 3, csid: csid, into: &fmt3)
        #expect(Array(fmt3.readableBytesView) == [bytes[0] | 0xC0] + bytes.dropFirst())

        // A message and its continuation on that chunk stream.
        let payload = Wire.pattern(150, seed: Int(csid))
        var input = bytes + [0, 0, 9] + Wire.u24(150)
        input += [8] + Wire.le32(1)
        input += payload[..<128]
        input += [bytes[0] | 0xC0] + bytes.dropFirst()
        input += payload[128...]
        #expect(try Wire.decode(input) == [
            C(csid: csid, timestamp: 9, length: 150, type: 8, streamID: 1, first: true, last: false, payload: Array(payload[..<128])),
            C(csid: csid, timestamp: 9, length: 150, type: 8, streamID: 1, first: false, last: true, payload: Array(payload[128...])),
        ])
    }

    @Test func longerBasicHeaderFormsOfSmallIDs() throws {
        // The 3-byte form can name ids the 2-byte form could: both read the same id.
        let three = Wire.cat([0x01, 0x00, 0x00], Wire.u24(1), Wire.u24(1), [8], Wire.le32(1), [0xAA])
        let two = Wire.cat([0x00, 0x00], Wire.u24(2), Wire.u24(1), [8], Wire.le32(1), [0xBB])
        let chunks = try Wire.decode(three + two)
        #expect(chunks.map(\.csid) == [64, 64])
        #expect(chunks.map(\.timestamp) == [1, 2])
    }

    // MARK: Extended timestamp

    @Test func extendedTimestampOnFmt0IsRepeatedOnContinuations() throws {
        for ts: UInt32 in [0xFF_FFFF, 0x0100_0000, 0xFFFF_FFFF] {
            let payload = Wire.pattern(300, seed: 9)
            let bytes = Wire.cat(
                Self.h(0, 6, ts, 300, 9, 1, nil), Array(payload[..<128]), Self.h(3, 6, 0, 0, 0, 0, ts), Array(payload[128..<256]),
                Self.h(3, 6, 0, 0, 0, 0, ts), Array(payload[256...]))
            #expect(Array(bytes[1...3]) == [0xFF, 0xFF, 0xFF], "the 24-bit field says extended")
            let chunks = try Wire.decode(bytes)
            #expect(chunks.map(\.timestamp) == [ts, ts, ts])
            #expect(chunks.map(\.payload.count) == [128, 128, 44])
            #expect(DecodedMessage.assemble(chunks).map(\.payload) == [payload])
        }
    }

    @Test func timestampBelowTheExtendedRangeHasNoExtension() throws {
        let bytes = Self.h(0, 6, 0xFF_FFFE, 1, 9, 1, nil) + [1]
        #expect(bytes.count == 12 + 1)
        #expect(try Wire.decode(bytes).map(\.timestamp) == [0xFF_FFFE])
    }

    @Test func extendedDeltaOnFmt2AndItsFmt3Messages() throws {
        let bytes = Wire.cat(
            Self.h(0, 4, 100, 2, 8, 1, nil), [1, 1],
            Self.h(2, 4, 0x0100_0000, 0, 0, 0, nil), [2, 2],
            Self.h(3, 4, 0, 0, 0, 0, 0x0100_0000), [3, 3],
            Self.h(1, 4, 5, 1, 8, 0, nil), [4])
        #expect(try Wire.decode(bytes).map(\.timestamp) == [100, 0x0100_0064, 0x0200_0064, 0x0200_0069])
    }

    @Test func timestampsWrapAround() throws {
        let bytes = Wire.cat(Self.h(0, 4, 0xFFFF_FFF0, 1, 8, 1, nil), [1], Self.h(2, 4, 0x20, 0, 0, 0, nil), [2])
        #expect(try Wire.decode(bytes).map(\.timestamp) == [0xFFFF_FFF0, 0x10])
    }

    // MARK: Chunk size and Abort

    @Test func messageSplitAt128ThenAfterSetChunkSize4096() throws {
        let small = Wire.pattern(300, seed: 1)
        let large = Wire.pattern(5000, seed: 2)
        let bytes = Wire.cat(
            Self.h(0, 6, 0, 300, 9, 1, nil), Array(small[..<128]), Self.h(3, 6, 0, 0, 0, 0, nil), Array(small[128..<256]),
            Self.h(3, 6, 0, 0, 0, 0, nil), Array(small[256...]),
            Wire.setChunkSize(4096),
            Self.h(0, 6, 40, 5000, 9, 1, nil), Array(large[..<4096]), Self.h(3, 6, 0, 0, 0, 0, nil), Array(large[4096...]))
        var feeder = Feeder()
        try feeder.feed(bytes)
        #expect(feeder.buffer.readableBytes == 0)
        #expect(feeder.decoder.chunkSize == 4096)
        #expect(feeder.chunks.map(\.payload.count) == [128, 128, 44, 4, 4096, 904])
        #expect(DecodedMessage.assemble(feeder.chunks) == [
            DecodedMessage(csid: 6, timestamp: 0, type: 9, streamID: 1, payload: small),
            DecodedMessage(csid: 2, timestamp: 0, type: 1, streamID: 0, payload: Wire.be32(4096)),
            DecodedMessage(csid: 6, timestamp: 40, type: 9, streamID: 1, payload: large),
        ])
    }

    @Test func chunkSizeLimits() throws {
        var feeder = Feeder()
        try feeder.feed(Wire.cat(Wire.setChunkSize(1), Self.h(0, 4, 0, 3, 8, 1, nil), [1], Self.h(3, 4, 0, 0, 0, 0, nil), [2], Self.h(3, 4, 0, 0, 0, 0, nil), [3]))
        #expect(feeder.decoder.chunkSize == 1)
        #expect(feeder.chunks.dropFirst().map(\.payload) == [[1], [2], [3]])
        #expect(feeder.chunks.dropFirst().map(\.last) == [false, false, true])

        var largest = Feeder()
        try largest.feed(Wire.cat(Wire.setChunkSize(0x7FFF_FFFF), Self.h(0, 4, 0, 1000, 8, 1, nil), Wire.pattern(1000, seed: 1)))
        #expect(largest.decoder.chunkSize == 0x7FFF_FFFF)
        #expect(largest.chunks.map(\.payload.count) == [4, 1000])
    }

    /// Peers apply Set Chunk Size by type alone; the proxy replays client bytes to the backend, so
    /// it must read them the same way.
    @Test func setChunkSizeAppliesOnAnyChunkAndMessageStream() throws {
        let payload = Wire.pattern(300, seed: 1)
        var feeder = Feeder()
        try feeder.feed(Wire.cat(Self.h(0, 3, 0, 4, 1, 1, nil), Wire.be32(512), Self.h(0, 8, 0, 300, 20, 1, nil), payload))
        #expect(feeder.decoder.chunkSize == 512)
        #expect(feeder.chunks.map(\.payload.count) == [4, 300])
        #expect(feeder.buffer.readableBytes == 0)
    }

    @Test func abortDropsAPartialMessage() throws {
        let bytes = Wire.cat(
            Self.h(0, 6, 50, 300, 9, 1, nil), Wire.pattern(128, seed: 1),
            Wire.abort(csid: 6),
            Self.h(3, 6, 0, 0, 0, 0, nil), Wire.pattern(128, seed: 2),
            Self.h(0, 6, 60, 3, 9, 1, nil), [1, 2, 3])
        let chunks = try Wire.decode(bytes)
        #expect(chunks.count == 4)
        #expect(chunks[1].type == 2 && chunks[1].payload == [0, 0, 0, 6])
        // After the abort a fmt 3 chunk starts a message again (the aborted one's header, delta reused).
        #expect(chunks[2].first && !chunks[2].last && chunks[2].timestamp == 100 && chunks[2].length == 300)
        #expect(chunks[3] == C(csid: 6, timestamp: 60, length: 3, type: 9, streamID: 1, payload: [1, 2, 3]))
        // Abort of a chunk stream never used changes nothing.
        #expect(try Wire.decode(Wire.cat(Wire.abort(csid: 40), Self.h(0, 4, 0, 1, 8, 1, nil), [1])).count == 2)
    }

    // MARK: Incremental reads

    /// A stream with every header format, 1-3 byte basic headers, interleaving, an extended
    /// timestamp with continuations and a chunk size change.
    static let mixedStream: [UInt8] = {
        let cmd = Wire.pattern(200, seed: 1), video = Wire.pattern(300, seed: 3), ext = Wire.pattern(150, seed: 7), big = Wire.pattern(300, seed: 8)
        return Wire.cat(
            h(0, 3, 0, 200, 20, 0, nil), Array(cmd[..<128]), h(3, 3, 0, 0, 0, 0, nil), Array(cmd[128...]),
            h(0, 4, 1000, 10, 8, 1, nil), Wire.pattern(10, seed: 2),
            h(0, 6, 1000, 300, 9, 1, nil), Array(video[..<128]),
            h(2, 4, 23, 0, 0, 0, nil), Wire.pattern(10, seed: 4),
            h(3, 6, 0, 0, 0, 0, nil), Array(video[128..<256]),
            h(3, 4, 0, 0, 0, 0, nil), Wire.pattern(10, seed: 5),
            h(3, 6, 0, 0, 0, 0, nil), Array(video[256...]),
            h(1, 6, 33, 50, 9, 0, nil), Wire.pattern(50, seed: 6),
            h(0, 64, 5, 3, 18, 1, nil), [1, 2, 3],
            h(0, 320, 7, 3, 18, 1, nil), [4, 5, 6],
            h(0, 7, 0x0100_0000, 150, 9, 1, nil), Array(ext[..<128]), h(3, 7, 0, 0, 0, 0, 0x0100_0000), Array(ext[128...]),
            Wire.setChunkSize(256),
            h(0, 6, 2000, 300, 9, 1, nil), Array(big[..<256]), h(3, 6, 0, 0, 0, 0, nil), Array(big[256...]))
    }()

    @Test func mixedStreamDecodesToItsMessages() throws {
        let chunks = try Wire.decode(Self.mixedStream)
        #expect(chunks.count == 16)
        let M = DecodedMessage.init
        #expect(DecodedMessage.assemble(chunks) == [
            M(3, 0, 20, 0, Wire.pattern(200, seed: 1)),
            M(4, 1000, 8, 1, Wire.pattern(10, seed: 2)),
            M(4, 1023, 8, 1, Wire.pattern(10, seed: 4)),
            M(4, 1046, 8, 1, Wire.pattern(10, seed: 5)),
            M(6, 1000, 9, 1, Wire.pattern(300, seed: 3)),
            M(6, 1033, 9, 1, Wire.pattern(50, seed: 6)),
            M(64, 5, 18, 1, [1, 2, 3]),
            M(320, 7, 18, 1, [4, 5, 6]),
            M(7, 0x0100_0000, 9, 1, Wire.pattern(150, seed: 7)),
            M(2, 0, 1, 0, Wire.be32(256)),
            M(6, 2000, 9, 1, Wire.pattern(300, seed: 8)),
        ])
    }

    @Test func everySplitPointYieldsTheSameChunks() throws {
        let input = Self.mixedStream
        let reference = try Wire.decode(input)
        for split in 0...input.count {
            var feeder = Feeder()
            try feeder.feed(input[..<split])
            try feeder.feed(input[split...])
            #expect(feeder.chunks == reference, "split at \(split)")
            #expect(feeder.buffer.readableBytes == 0)
        }
    }

    @Test func byteByByteYieldsTheSameChunks() throws {
        let input = Self.mixedStream
        var feeder = Feeder()
        for byte in input {
            try feeder.feed([byte])
        }
        #expect(feeder.chunks == (try Wire.decode(input)))
        #expect(feeder.calls == input.count + feeder.chunks.count, "one nil per byte fed, one call per chunk")
    }

    // MARK: Limits

    @Test func messageTooLarge() throws {
        // The length field has 24 bits: 0xFFFFFF (16 MiB - 1) is the largest a header can announce.
        #expect(throws: RTMPError.messageTooLarge(0xFF_FFFF, limit: 8 << 20)) {
            try Wire.decode(Self.h(0, 4, 0, 0xFF_FFFF, 9, 1, nil))
        }
        #expect(throws: RTMPError.messageTooLarge((8 << 20) + 1, limit: 8 << 20)) {
            try Wire.decode(Self.h(0, 4, 0, (8 << 20) + 1, 9, 1, nil) + [1, 2, 3])
        }
        // The limit itself is accepted: the decoder waits for the payload.
        var feeder = Feeder()
        try feeder.feed(Self.h(0, 4, 0, 8 << 20, 9, 1, nil) + [1])
        #expect(feeder.chunks.isEmpty)

        let limits = RTMPChunkDecoder.Limits(maxMessageSize: 100)
        #expect(throws: RTMPError.messageTooLarge(101, limit: 100), "a new length in a fmt 1 header") {
            try Wire.decode(Wire.cat(Self.h(0, 4, 0, 100, 9, 1, nil), Wire.pattern(100, seed: 1), Self.h(1, 4, 0, 101, 9, 0, nil)), limits: limits)
        }
    }

    @Test(arguments: [UInt32(0), 0x8000_0000, 0xFFFF_FFFF]) func badChunkSize(_ size: UInt32) {
        #expect(throws: RTMPError.badChunkSize(size)) { try Wire.decode(Wire.setChunkSize(size)) }
    }

    @Test func tooManyChunkStreams() throws {
        let message = { (csid: UInt32) in Self.h(0, csid, 0, 1, 8, 1, nil) + [1] }
        let sixtyFour = (2...65).flatMap { message(UInt32($0)) }
        #expect(try Wire.decode(sixtyFour).count == 64)
        #expect(throws: RTMPError.tooManyChunkStreams(64)) { try Wire.decode(sixtyFour + message(66)) }
        #expect(try Wire.decode(sixtyFour + message(65)).count == 65, "a known chunk stream is not a new one")

        let small = RTMPChunkDecoder.Limits(maxChunkStreams: 2)
        #expect(throws: RTMPError.tooManyChunkStreams(2)) { try Wire.decode(Wire.cat(message(3), message(400), message(65_500)), limits: small) }
    }

    @Test func continuationWithoutHeader() {
        #expect(throws: RTMPError.continuationWithoutHeader(csid: 5)) { try Wire.decode([0xC5, 1, 2, 3]) }
        #expect(throws: RTMPError.continuationWithoutHeader(csid: 80)) { try Wire.decode([0xC0, 16, 1, 2, 3]) }
        #expect(throws: RTMPError.continuationWithoutHeader(csid: 4)) {
            try Wire.decode(Wire.cat(Self.h(0, 3, 0, 1, 20, 0, nil), [1, 0xC4]))
        }
    }

    @Test func errorsDescribeThemselves() {
        let errors: [RTMPError] = [
            .messageTooLarge(1, limit: 0), .badChunkSize(0), .tooManyChunkStreams(64), .continuationWithoutHeader(csid: 5),
        ]
        for error in errors {
            #expect(!error.description.isEmpty)
        }
    }

    // MARK: Round trip with the encoder

    @Test func encoderWireBytes() {
        var out = ByteBuffer()
        RTMPChunkEncoder.writeFirstHeader(csid: 3, timestamp: 0xFF_FFFF, length: 5, typeID: 20, streamID: 1, into: &out)
        #expect(Array(out.readableBytesView) == [0x03, 0xFF, 0xFF, 0xFF, 0, 0, 5, 20, 1, 0, 0, 0, 0x00, 0xFF, 0xFF, 0xFF])
        out.clear()
        RTMPChunkEncoder.writeFirstHeader(csid: 64, timestamp: 0x0102_03, length: 0x0A0B0C, typeID: 9, streamID: 0x0102_0304, into: &out)
        #expect(Array(out.readableBytesView) == [0x00, 0x00, 0x01, 0x02, 0x03, 0x0A, 0x0B, 0x0C, 9, 4, 3, 2, 1])
        out.clear()
        RTMPChunkEncoder.writeContinuationHeader(csid: 64, timestamp: 5, into: &out)
        #expect(Array(out.readableBytesView) == [0xC0, 0x00])
        out.clear()
        RTMPChunkEncoder.writeContinuationHeader(csid: 320, timestamp: 0x0100_0000, into: &out)
        #expect(Array(out.readableBytesView) == [0xC1, 0x00, 0x01, 0x01, 0x00, 0x00, 0x00])
    }

    @Test func writeMessageRoundTrip() throws {
        let csids: [UInt32] = [2, 3, 63, 64, 319, 320, 65599]
        let timestamps: [UInt32] = [0, 1, 0xFF_FFFE, 0xFF_FFFF, 0x0100_0000, 0xFFFF_FFFF]
        let sizes = [0, 1, 127, 128, 129, 256, 1000, 5000]
        for chunkSize in [128, 4096, 1] {
            var out = ByteBuffer()
            if chunkSize != 128 {
                RTMPChunkEncoder.writeMessage(
                    csid: 2, typeID: RTMPMessageType.setChunkSize, streamID: 0, payload: ByteBuffer(bytes: Wire.be32(UInt32(chunkSize))),
                    chunkSize: 128, into: &out)
            }
            var expected: [DecodedMessage] = []
            var expectedChunks = chunkSize == 128 ? 0 : 1
            for (i, csid) in csids.enumerated() {
                for (j, ts) in timestamps.enumerated() {
                    for (k, size) in sizes.enumerated() where chunkSize > 1 || size <= 129 {
                        let payload = Wire.pattern(size, seed: i * 100 + j * 10 + k)
                        let type: UInt8 = [8, 9, 18, 20][k % 4]
                        let sid = UInt32(k % 2)
                        RTMPChunkEncoder.writeMessage(
                            csid: csid, timestamp: ts, typeID: type, streamID: sid, payload: ByteBuffer(bytes: payload), chunkSize: chunkSize, into: &out)
                        expected.append(DecodedMessage(csid: csid, timestamp: ts, type: type, streamID: sid, payload: payload))
                        expectedChunks += max(1, (size + chunkSize - 1) / chunkSize)
                    }
                }
            }
            let chunks = try Wire.decode(Array(out.readableBytesView))
            #expect(chunks.count == expectedChunks, "chunk size \(chunkSize)")
            #expect(chunks.dropFirst(chunkSize == 128 ? 0 : 1).allSatisfy { $0.payload.count <= chunkSize })
            #expect(Array(DecodedMessage.assemble(chunks).dropFirst(chunkSize == 128 ? 0 : 1)) == expected, "chunk size \(chunkSize)")
        }
    }

    @Test(arguments: [UInt32(64), 320, 3], [UInt32(0x12), 0xFF_FFFF, 0x1234_5678])
    func firstAndContinuationHeadersRoundTrip(csid: UInt32, timestamp: UInt32) throws {
        let payload = Wire.pattern(300, seed: Int(csid))
        var out = ByteBuffer()
        RTMPChunkEncoder.writeFirstHeader(csid: csid, timestamp: timestamp, length: 300, typeID: 9, streamID: 1, into: &out)
        out.writeBytes(payload[..<128])
        RTMPChunkEncoder.writeContinuationHeader(csid: csid, timestamp: timestamp, into: &out)
        out.writeBytes(payload[128..<256])
        RTMPChunkEncoder.writeContinuationHeader(csid: csid, timestamp: timestamp, into: &out)
        out.writeBytes(payload[256...])
        let chunks = try Wire.decode(Array(out.readableBytesView))
        #expect(chunks == [
            C(csid: csid, timestamp: timestamp, length: 300, type: 9, streamID: 1, first: true, last: false, payload: Array(payload[..<128])),
            C(csid: csid, timestamp: timestamp, length: 300, type: 9, streamID: 1, first: false, last: false, payload: Array(payload[128..<256])),
            C(csid: csid, timestamp: timestamp, length: 300, type: 9, streamID: 1, first: false, last: true, payload: Array(payload[256...])),
        ])
    }

    // MARK: Mutation

    /// What one decoder makes of an input: the chunks before an error, and the error.
    struct Outcome: Equatable {
        var chunks: [DecodedChunk] = []
        var error: RTMPError?
    }

    static func outcome(_ pieces: [ArraySlice<UInt8>]) -> Outcome {
        var feeder = Feeder()
        var result = Outcome()
        do throws(RTMPError) {
            for piece in pieces {
                try feeder.feed(piece)
            }
        } catch {
            result.error = error
        }
        result.chunks = feeder.chunks
        let total = pieces.reduce(0) { $0 + $1.count }
        #expect(feeder.calls <= total + pieces.count, "every call consumes bytes or returns nil")
        #expect(feeder.chunks.allSatisfy { $0.length <= 8 << 20 && $0.payload.count <= $0.length })
        return result
    }

    static let interesting: [[UInt8]] = [
        [0x00], [0x01], [0x02], [0x03], [0x3F], [0x40], [0x80], [0xC0], [0xC1], [0xC3], [0xFF], [0xFF, 0xFF, 0xFF],
        [0x80, 0x00, 0x00, 0x00], [0x7F, 0xFF, 0xFF, 0xFF], [0x00, 0x00, 0x00, 0x00], Wire.setChunkSize(1), Wire.setChunkSize(0),
        Wire.abort(csid: 6), [0xC6], [0x46, 0, 0, 1, 0, 0, 9, 9],
    ]

    @Test func mutatedChunkStreams() {
        var mutator = ByteMutator(seed: 0xC0FF_EE12, interesting: Self.interesting)
        var clean = 0, refused = 0
        for _ in 0..<3000 {
            let bytes = mutator.mutate(Self.mixedStream)
            let once = Self.outcome([bytes[...]])
            if once.error == nil { clean += 1 } else { refused += 1 }
            // The same input in two reads gives the same chunks and the same error.
            let split = Int.random(in: 0...bytes.count, using: &mutator.generator)
            #expect(Self.outcome([bytes[..<split], bytes[split...]]) == once, "split at \(split) of \(bytes)")
        }
        #expect(clean > 300 && refused > 300, "mutations exercise both outcomes (\(clean) read, \(refused) refused)")
    }
}
