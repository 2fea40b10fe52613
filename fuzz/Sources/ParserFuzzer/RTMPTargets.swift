// RTMP: the chunk decoder, the incremental chunk scanner of relayed clients, AMF0 and commands,
// the backend translator and the client session (both on EmbeddedChannel).

import NIOCore
import NIOEmbedded

@testable import ProxyCore
@testable import ProxyNet
@testable import RTMP

enum RTMPTargets {
    /// Decoder limits from one choice byte: strict or not, a small or a large message cap, few or
    /// many chunk streams.
    static func limits(_ r: inout FuzzReader) -> RTMPChunkDecoder.Limits {
        let b = r.byte()
        var limits = RTMPChunkDecoder.Limits()
        limits.strict = b & 1 == 1
        limits.maxMessageSize = [200, 1000, 300 * 1024, 8 << 20][Int(b >> 1) & 3]
        limits.maxChunkStreams = [2, 4, 64, 64][Int(b >> 3) & 3]
        return limits
    }

    /// Up to `count` cut points in 0...length, in order, from the reader.
    static func cuts(_ r: inout FuzzReader, count: Int, length: Int) -> [Int] {
        (0..<count).map { _ in r.upTo(length) }.sorted()
    }

    /// `bytes` in the pieces the cut points make.
    static func pieces(_ bytes: [UInt8], at cuts: [Int]) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var start = 0
        for cut in cuts.map({ min($0, bytes.count) }) + [bytes.count] where cut >= start {
            out.append(Array(bytes[start..<cut]))
            start = cut
        }
        return out
    }

    // MARK: - Chunk decoder

    struct Chunk: Equatable {
        var csid: UInt32, timestamp: UInt32, messageLength: Int, typeID: UInt8, streamID: UInt32
        var isFirst: Bool, isLast: Bool
        var payload: [UInt8]

        init(_ c: RTMPChunk) {
            (csid, timestamp, messageLength, typeID, streamID) = (c.csid, c.timestamp, c.messageLength, c.typeID, c.streamID)
            (isFirst, isLast, payload) = (c.isFirst, c.isLast, Array(c.payload.readableBytesView))
        }
    }

    struct Decoded: Equatable {
        var chunks: [Chunk] = []
        var error: RTMPError?
        var leftover = 0
    }

    /// Every chunk of `pieces` fed one after the other to one decoder.
    static func decode(_ pieces: [[UInt8]], limits: RTMPChunkDecoder.Limits) -> Decoded {
        var decoder = RTMPChunkDecoder(limits: limits)
        var buffer = ByteBuffer()
        var out = Decoded()
        for piece in pieces {
            buffer.writeBytes(piece)
            do throws(RTMPError) {
                while let chunk = try decoder.next(&buffer) { out.chunks.append(Chunk(chunk)) }
            } catch {
                out.error = error
                return out
            }
        }
        out.leftover = buffer.readableBytes
        return out
    }

    /// A whole message: its first chunk's header and every payload byte.
    struct Message: Equatable {
        var csid: UInt32, typeID: UInt8, timestamp: UInt32, streamID: UInt32
        var payload: [UInt8]
    }

    /// The messages the chunks complete, in the order they complete.
    static func messages(_ chunks: [Chunk]) -> [Message] {
        var partial: [UInt32: Message] = [:]
        var out: [Message] = []
        for c in chunks {
            if c.isFirst { partial[c.csid] = Message(csid: c.csid, typeID: c.typeID, timestamp: c.timestamp, streamID: c.streamID, payload: []) }
            partial[c.csid]?.payload += c.payload
            if c.isLast, let m = partial.removeValue(forKey: c.csid) { out.append(m) }
        }
        return out
    }

    /// The decoder reads the same chunks however its input is cut; every chunk is within the
    /// chunk size and every message within the limit, its chunks adding up to its length; a
    /// whole message written again by RTMPChunkEncoder reads back the same.
    static func chunkDecoder(_ input: FuzzInput) {
        var r = input.reader
        let limits = limits(&r)
        var cutReader = r
        _ = (r.byte(), r.byte())
        let data = r.rest()
        let whole = decode([data], limits: limits)
        let split = decode(pieces(data, at: cuts(&cutReader, count: 2, length: data.count)), limits: limits)
        check(whole == split, "chunks differ when the input is cut: \(whole.chunks.count) vs \(split.chunks.count), \(String(describing: whole.error)) vs \(String(describing: split.error))")

        var chunkSize = 128
        var received: [UInt32: Int] = [:]
        for c in whole.chunks {
            check(c.payload.count <= chunkSize, "chunk of \(c.payload.count) bytes over the chunk size \(chunkSize)")
            check(c.messageLength <= limits.maxMessageSize, "message of \(c.messageLength) bytes over the limit")
            if c.isFirst { received[c.csid] = 0 }
            check(received[c.csid] != nil, "a continuation on chunk stream \(c.csid) without a start")
            received[c.csid, default: 0] += c.payload.count
            if c.isLast {
                check(received[c.csid] == c.messageLength, "message of \(c.messageLength) bytes ended after \(received[c.csid]!)")
                received[c.csid] = nil
            } else {
                check(received[c.csid]! < c.messageLength, "message not finished at its length")
            }
            guard c.isFirst, c.isLast, c.payload.count >= 4 else { continue }
            let value = UInt32(c.payload[0]) << 24 | UInt32(c.payload[1]) << 16 | UInt32(c.payload[2]) << 8 | UInt32(c.payload[3])
            if c.typeID == RTMPMessageType.setChunkSize { chunkSize = Int(value) }
            if c.typeID == RTMPMessageType.abort { received[value] = nil }
        }

        for m in messages(whole.chunks).prefix(8) {
            if m.typeID == RTMPMessageType.setChunkSize, m.payload.count >= 4, m.payload.count <= 128,
                !(1...0x7FFF_FFFF).contains(UInt32(m.payload[0]) << 24 | UInt32(m.payload[1]) << 16 | UInt32(m.payload[2]) << 8 | UInt32(m.payload[3]))
            {
                continue  // an invalid chunk size is refused by the reader, as it should be
            }
            var out = ByteBuffer()
            RTMPChunkEncoder.writeMessage(
                csid: m.csid, timestamp: m.timestamp, typeID: m.typeID, streamID: m.streamID, payload: ByteBuffer(bytes: m.payload), chunkSize: 128,
                into: &out)
            let again = decode([Array(out.readableBytesView)], limits: RTMPChunkDecoder.Limits())
            check(again.error == nil && again.leftover == 0 && messages(again.chunks) == [m], "message on csid \(m.csid) does not read back after encoding")
        }
    }

    // MARK: - Chunk scanner

    struct Command: Equatable {
        var payload: [UInt8]
        var amf3: Bool
    }

    struct Scanned: Equatable {
        var commands: [Command] = []
        var error: RTMPError?
    }

    static func assembler(_ limits: RTMPChunkDecoder.Limits) -> RTMPMessageAssembler {
        RTMPMessageAssembler(maxSize: min(limits.maxMessageSize, RTMPChunkScanner.maxCommandSize))
    }

    static func isCollected(_ type: UInt8) -> Bool {
        type == RTMPMessageType.commandAMF0 || type == RTMPMessageType.commandAMF3 || type == RTMPMessageType.setChunkSize
            || type == RTMPMessageType.abort
    }

    /// What RTMPClientSession refuses before the relay (and the scanner after it).
    static func refuseAmbiguous(_ chunk: RTMPChunk) throws(RTMPError) {
        if chunk.typeID == RTMPMessageType.abort { throw .ambiguousControl("Abort") }
        if chunk.typeID == RTMPMessageType.setChunkSize, !(chunk.isFirst && chunk.isLast) { throw .ambiguousControl("a Set Chunk Size split over chunks") }
    }

    /// The scanner's reading of `bytes`, by the decoder and the assembler over the whole input.
    static func reference(_ bytes: [UInt8], limits: RTMPChunkDecoder.Limits) -> Scanned {
        var decoder = RTMPChunkDecoder(limits: limits)
        var assembler = assembler(limits)
        var buffer = ByteBuffer(bytes: bytes)
        var out = Scanned()
        do throws(RTMPError) {
            while true {
                var probe = buffer
                guard let header = try decoder.readHeader(&probe) else { break }
                if isCollected(header.typeID), header.messageLength > RTMPChunkScanner.maxCommandSize {
                    throw .messageTooLarge(header.messageLength, limit: RTMPChunkScanner.maxCommandSize)
                }
                guard let chunk = try decoder.next(&buffer) else { break }
                try refuseAmbiguous(chunk)
                if chunk.isCommand, let payload = try assembler.add(chunk) {
                    out.commands.append(Command(payload: Array(payload.readableBytesView), amf3: chunk.typeID == RTMPMessageType.commandAMF3))
                }
            }
        } catch {
            out.error = error
        }
        return out
    }

    static func scan(_ pieces: [[UInt8]], with scanner: inout RTMPChunkScanner, into out: inout Scanned) {
        for piece in pieces where out.error == nil {
            do throws(RTMPError) {
                try scanner.scan(ByteBuffer(bytes: piece)) { payload, amf3 in
                    out.commands.append(Command(payload: Array(payload.readableBytesView), amf3: amf3))
                }
            } catch {
                out.error = error
            }
        }
    }

    /// RTMPChunkScanner reports the same commands (and the same error) wherever its input is cut,
    /// the same as the decoder and the assembler read over the whole input; taking over from a
    /// decoder that read a prefix as RTMPClientSession does, it still reports the same commands.
    static func chunkScanner(_ input: FuzzInput) {
        var r = input.reader
        let limits = limits(&r)
        var cutReader = r
        _ = (r.byte(), r.byte(), r.byte())
        let data = r.rest()
        let expected = reference(data, limits: limits)

        var scanner = RTMPChunkScanner(decoder: RTMPChunkDecoder(limits: limits), assembler: assembler(limits))
        var alone = Scanned()
        let scanCuts = cuts(&cutReader, count: 2, length: data.count)
        scan(pieces(data, at: scanCuts), with: &scanner, into: &alone)
        check(alone == expected, "scanner cut at \(scanCuts) reports \(alone.commands.count) commands, error \(String(describing: alone.error)); whole: \(expected.commands.count), \(String(describing: expected.error))")

        // The session's decoder reads whole chunks of a prefix, then the scanner takes over.
        let handoff = cutReader.upTo(data.count)
        var decoder = RTMPChunkDecoder(limits: limits)
        var assembler = assembler(limits)
        var prefix = ByteBuffer(bytes: data[..<handoff])
        var relayed = Scanned()
        do throws(RTMPError) {
            while let chunk = try decoder.next(&prefix) {
                try refuseAmbiguous(chunk)
                guard chunk.isCommand, let payload = try assembler.add(chunk) else { continue }
                relayed.commands.append(Command(payload: Array(payload.readableBytesView), amf3: chunk.typeID == RTMPMessageType.commandAMF3))
            }
        } catch {
            relayed.error = error
        }
        if relayed.error == nil {
            let unparsed = Array(prefix.readableBytesView) + Array(data[handoff...])
            var taken = RTMPChunkScanner(decoder: decoder, assembler: assembler)
            scan(pieces(unparsed, at: [cutReader.upTo(unparsed.count)]), with: &taken, into: &relayed)
        }
        check(relayed.commands == expected.commands && (relayed.error == nil) == (expected.error == nil),
              "handed over at \(handoff): \(relayed.commands.count) commands, error \(String(describing: relayed.error)); whole: \(expected.commands.count), \(String(describing: expected.error))")
    }

    // MARK: - AMF0 and commands

    static func encoded(_ values: [AMF0Value]) -> [UInt8] {
        var out = ByteBuffer()
        AMF0Encoder.encode(values, into: &out)
        return Array(out.readableBytesView)
    }

    /// Decoding within small limits either fails leaving the buffer as it was, or gives values
    /// that encode to bytes which decode to the same values (compared as their encoding, so NaN
    /// and -0 count as themselves); value-by-value decoding agrees with decodeAll; a command
    /// decoded from the bytes re-encodes to itself.
    static func amf0(_ input: FuzzInput) {
        var r = input.reader
        let (a, b) = (r.byte(), r.byte())
        let depth = Int(a & 7), items = Int(a >> 3) * 2, total = 1 + Int(a >> 4) * 8
        let short = Int(b & 0x3F) * 4, long = Int(b >> 6) * 200
        let limits = AMF0Limits(maxDepth: depth, maxItems: items, maxStringLength: short, maxLongStringLength: long, maxTotalValues: total)
        let data = r.rest()
        var buffer = ByteBuffer(bytes: data)
        let start = buffer.readerIndex
        let values: [AMF0Value]
        do {
            values = try AMF0Decoder.decodeAll(&buffer, limits: limits)
        } catch {
            check(buffer.readerIndex == start, "a failed decode moved the reader index")
            values = []
        }
        if !values.isEmpty || data.isEmpty {
            check(buffer.readableBytes == 0, "decodeAll left \(buffer.readableBytes) bytes")
            check(values.count <= limits.maxTotalValues, "\(values.count) values over the limit \(limits.maxTotalValues)")
            var one = ByteBuffer(bytes: data)
            var single: [AMF0Value] = []
            while one.readableBytes > 0, let v = try? AMF0Decoder.decodeValue(&one, limits: limits) { single.append(v) }
            check(encoded(single) == encoded(values), "decodeValue one by one differs from decodeAll")
            let bytes = encoded(values)
            var again = ByteBuffer(bytes: bytes)
            let reread = try? AMF0Decoder.decodeAll(&again)
            check(reread.map(encoded) == bytes, "encoded values do not read back: \(Array(bytes.prefix(64)).hex)")
        }
        for amf3 in [false, true] {
            guard let command = try? RTMPCommand(decoding: ByteBuffer(bytes: data), amf3: amf3, limits: limits) else { continue }
            let bytes = Array(command.encoded().readableBytesView)
            let back = try? RTMPCommand(decoding: ByteBuffer(bytes: bytes), amf3: false)
            check(back.map { Array($0.encoded().readableBytesView) } == bytes, "command '\(command.name)' does not read back")
            _ = RTMPClientSession.sameApplication(tcUrl: command.commandObject.object?["tcUrl"]?.string ?? command.name, app: command.arguments.first?.string ?? "")
        }
    }

    // MARK: - Backend translator

    /// Counts what a closure was called with (the translator's setup outcome).
    final class Calls<T> {
        var values: [T] = []
    }

    /// A backend chunk stream through RTMPBackendTranslator, cut into reads: unless it is refused,
    /// what the client gets is whole chunks, its media and control messages are the backend's
    /// (same chunk stream, type, absolute timestamp and payload, the client's stream id), its
    /// commands are the backend's in order, minus replies the proxy already gave (`_result` to an
    /// answered transaction), and setup ends at most once.
    static func backendTranslator(_ input: FuzzInput) {
        var r = input.reader
        var limits = limits(&r)
        limits.maxChunkStreams = max(limits.maxChunkStreams, 8)
        let flags = r.byte()
        var answered: Set<Double> = []
        for bit in 0..<4 where (flags >> UInt8(bit)) & 1 == 1 { answered.insert(Double(bit + 1)) }
        let createStream: Double? = flags & 0x10 != 0 ? 4 : nil
        var cutReader = r
        _ = (r.byte(), r.byte())
        let data = r.rest()

        let outcomes = Calls<RTMPBackendTranslator.SetupOutcome>()
        let translator = RTMPBackendTranslator(answered: answered, createStreamTransaction: createStream, limits: limits) { outcomes.values.append($0) }
        let channel = EmbeddedChannel()
        defer { _ = try? channel.finish(acceptAlreadyClosed: true) }
        guard (try? channel.pipeline.syncOperations.addHandler(translator)) != nil else { return }
        var refused = false
        var out: [UInt8] = []
        for piece in pieces(data, at: cuts(&cutReader, count: 2, length: data.count)) {
            do {
                try channel.writeInbound(ByteBuffer(bytes: piece))
            } catch {
                refused = true
                break
            }
            while let buffer = try? channel.readInbound(as: ByteBuffer.self) { out += buffer.readableBytesView }
        }
        check(outcomes.values.count <= 1, "setup ended \(outcomes.values.count) times")
        guard !refused else { return }

        let backend = decode([data], limits: limits)
        guard backend.error == nil else { return }  // the translator reads with the same decoder: it cannot have passed this
        var clientLimits = RTMPChunkDecoder.Limits()
        clientLimits.maxChunkStreams = 1 << 20
        let client = decode([out], limits: clientLimits)
        check(client.error == nil && client.leftover == 0, "the client cannot read what it got: \(String(describing: client.error)), \(client.leftover) bytes left")

        func isCommand(_ m: Message) -> Bool { m.typeID == RTMPMessageType.commandAMF0 || m.typeID == RTMPMessageType.commandAMF3 }
        let sent = messages(backend.chunks)
        let got = messages(client.chunks)
        let media = sent.filter { !isCommand($0) }.map { m -> Message in
            var m = m
            m.streamID = m.streamID == 0 ? 0 : UInt32(RTMPReplies.streamID)
            return m
        }
        check(got.filter { !isCommand($0) } == media, "media and control messages differ: \(media.count) sent, \(got.filter { !isCommand($0) }.count) received")

        let commands = sent.filter(isCommand).compactMap { m in
            (try? RTMPCommand(decoding: ByteBuffer(bytes: m.payload), amf3: m.typeID == RTMPMessageType.commandAMF3)).map { ($0, Array($0.encoded().readableBytesView)) }
        }
        var next = commands.startIndex
        for m in got where isCommand(m) {
            check(m.typeID == RTMPMessageType.commandAMF0, "a command reached the client as type \(m.typeID)")
            guard let command = try? RTMPCommand(decoding: ByteBuffer(bytes: m.payload), amf3: false) else {
                return check(false, "the client got a command it cannot decode")
            }
            let bytes = Array(command.encoded().readableBytesView)
            while next < commands.endIndex, commands[next].1 != bytes {
                check(commands[next].0.name == "_result" && answered.contains(commands[next].0.transactionID), "backend command '\(commands[next].0.name)' was dropped")
                next += 1
            }
            check(next < commands.endIndex, "the client got command '\(command.name)' the backend never sent")
            next += 1
        }
    }

    // MARK: - Client session

    static let settings = RTMPClientSession.Settings(
        handshakeTimeout: .seconds(10), backendTimeout: .seconds(5), limits: RTMPChunkDecoder.Limits(maxMessageSize: 64 * 1024, maxChunkStreams: 8))
    static let environment = RTMPClientSession.Environment(
        sessions: StreamSession.Context(router: emptyRouter, hooks: NoHooks(), module: RTMPModule.identity), logger: quietLogger)
    static var peer: SocketAddress { try! SocketAddress(ipAddress: "192.0.2.10", port: 50_000) }

    /// Where the commands in `post` (the bytes after the handshake) would send the session to the
    /// router: the end of the chunk completing the first publish or play with a name after a
    /// connect with a tcUrl, read as the session reads them. Routing runs in a task that completes
    /// on the event loop (not EmbeddedEventLoop's business), so the harness stops one byte short.
    static func routingPoint(_ post: [UInt8]) -> Int? {
        var strict = settings.limits
        strict.strict = true
        var decoder = RTMPChunkDecoder(limits: strict)
        var assembler = RTMPMessageAssembler(maxSize: min(strict.maxMessageSize, RTMPChunkScanner.maxCommandSize))
        var buffer = ByteBuffer(bytes: post)
        var connected = false
        while let chunk = try? decoder.next(&buffer) {
            guard (try? refuseAmbiguous(chunk)) != nil else { return nil }
            guard chunk.isCommand else { continue }
            let assembled: ByteBuffer?
            do { assembled = try assembler.add(chunk) } catch { return nil }
            guard let payload = assembled else { continue }
            guard let command = try? RTMPCommand(decoding: payload, amf3: chunk.typeID == RTMPMessageType.commandAMF3) else { return nil }
            if command.name == "connect", command.commandObject.object?["tcUrl"]?.string?.isEmpty == false { connected = true }
            if command.name == "publish" || command.name == "play", connected, command.arguments.first?.string?.isEmpty == false {
                return post.count - buffer.readableBytes
            }
        }
        return nil
    }

    /// A client on RTMPClientSession over EmbeddedChannel, its bytes cut into reads anywhere
    /// (inside the handshake too): it never traps; S0/S1/S2 come first, S2 echoing C1; everything
    /// after is whole messages the client can read: control messages and AMF0 commands the proxy
    /// answers with (`_result`, `_error`, `onStatus`), never more replies than commands.
    static func clientSession(_ input: FuzzInput) {
        var r = input.reader
        let version: UInt8 = r.byte() < 16 ? r.byte() : 3
        let c1head = r.take(8)
        var cutReader = r
        _ = (r.byte(), r.byte())
        var post = r.rest()
        if let point = routingPoint(post) { post = Array(post[..<(point - 1)]) }
        let c1 = c1head + [UInt8](repeating: 0, count: 8 - c1head.count) + (0..<1528).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let c2 = [UInt8](repeating: 0x5A, count: 1536)
        let stream = [version] + c1 + c2 + post

        let loop = EmbeddedEventLoop()
        let channel = EmbeddedChannel(handler: RTMPClientSession(settings: settings, environment: environment), loop: loop)
        defer {
            _ = try? channel.finish(acceptAlreadyClosed: true)
            try? loop.syncShutdownGracefully()
        }
        guard (try? channel.connect(to: peer).wait()) != nil else { return }
        var out: [UInt8] = []
        let cuts = [cutReader.upTo(3073 + 64), 3073 + cutReader.upTo(post.count)]
        for piece in pieces(stream, at: cuts) where channel.isActive {
            _ = try? channel.writeInbound(ByteBuffer(bytes: piece))
            while let buffer = try? channel.readOutbound(as: ByteBuffer.self) { out += buffer.readableBytesView }
        }
        guard version == 3 else { return check(out.isEmpty, "\(out.count) bytes answered to version \(version)") }
        check(out.count >= 3073 && out[0] == 3 && Array(out[1537..<3073]) == c1, "S0/S1/S2 not first, or S2 not C1")
        let replies = decode([Array(out[3073...])], limits: RTMPChunkDecoder.Limits())
        check(replies.error == nil && replies.leftover == 0, "the proxy's replies do not read: \(String(describing: replies.error)), \(replies.leftover) left")
        var answers = 0
        for m in messages(replies.chunks) {
            if m.typeID == RTMPMessageType.windowAckSize || m.typeID == RTMPMessageType.setPeerBandwidth { continue }
            check(m.typeID == RTMPMessageType.commandAMF0, "the proxy sent a message of type \(m.typeID)")
            let name = (try? RTMPCommand(decoding: ByteBuffer(bytes: m.payload), amf3: false))?.name
            check(name == "_result" || name == "_error" || name == "onStatus", "the proxy sent '\(name ?? "?")'")
            answers += 1
        }
        let sent = reference(post, limits: RTMPChunkDecoder.Limits()).commands.count
        check(answers <= max(sent, 1), "\(answers) replies to \(sent) commands")
    }
}
