import NIOCore

/// One piece of an upstream FLV body, as the fan-out hands it to players: the bytes as they
/// arrived (a slice, never copied; it may start and end inside a tag), with where tags start in it.
struct FLVChunk: Sendable {
    var bytes: ByteBuffer
    /// Offset of the first tag that starts in `bytes` (a player may begin or stop there).
    var firstTag: Int?
    /// Offsets of the first and the last video keyframe tag starting in `bytes`.
    var firstKeyframe: Int?
    var lastKeyframe: Int?
    /// FLV timestamps (ms) of the last keyframe and of the last tag starting in `bytes`.
    var keyframeTimestamp: UInt32 = 0
    var lastTimestamp: UInt32?

    /// The bytes from `offset` on (a player joining at a tag start).
    func suffix(from offset: Int) -> ByteBuffer {
        bytes.getSlice(at: bytes.readerIndex + offset, length: bytes.readableBytes - offset)!
    }

    /// The bytes before `offset` (a player stopping at a tag boundary).
    func prefix(upTo offset: Int) -> ByteBuffer {
        bytes.getSlice(at: bytes.readerIndex, length: offset)!
    }
}

/// Finds tag boundaries in an FLV byte stream as it arrives, without copying it: the 9-byte file
/// header and `PreviousTagSize0`, then tags (11-byte header, data, 4-byte previous size). It reads
/// a tag's header and its first two data bytes (what tells a keyframe and a sequence header
/// apart; legacy AVC/HEVC, enhanced-RTMP video, AAC and enhanced audio), keeps copies of the
/// tags a joining player needs before the live ones (the file header, `onMetaData`, the video
/// and audio sequence headers), and skips the rest. A tag header that is split across chunks is
/// held back (at most 12 bytes) until its kind is known, so every mark lies in the chunk it is
/// reported with. Bounded: a tag over `maxTagBytes` or of an unknown type stops the stream.
struct FLVTagScanner {
    enum Failure: Error, CustomStringConvertible, Equatable {
        case notFLV
        case unknownTagType(UInt8)
        case tagTooLarge(Int)

        var description: String {
            switch self {
            case .notFLV: "the upstream body is not FLV (no FLV file header)"
            case .unknownTagType(let type): "unknown FLV tag type \(type)"
            case .tagTooLarge(let size): "an FLV tag of \(size) bytes is over max_tag_bytes"
            }
        }
    }

    /// The tags kept for joining players, each whole (header, data, previous tag size).
    struct Preamble: Sendable {
        var fileHeader: ByteBuffer?
        var metadata: ByteBuffer?
        var videoSequence: ByteBuffer?
        var audioSequence: ByteBuffer?

        /// In the order a player gets them.
        var buffers: [ByteBuffer] { [fileHeader, metadata, videoSequence, audioSequence].compactMap { $0 } }
    }

    private enum Kind { case keyframe, videoSequence, audioSequence, script, video, audio }

    private enum State {
        /// The file header: bytes still to read (of 9 + 4, or more with a larger data offset).
        case fileHeader
        /// A tag header: `scratchCount` bytes of it read into `scratch`.
        case tagHead
        /// A tag's remaining data and previous size: `remaining` bytes.
        case tagBody(remaining: Int)
    }

    let maxTagBytes: Int
    private(set) var preamble = Preamble() {
        didSet { preambleVersion &+= 1 }
    }
    /// Changes whenever `preamble` does (the hub rebuilds its list of buffers only then).
    private(set) var preambleVersion = 0
    /// A video tag has been seen: joining players start at keyframes (else at any tag).
    private(set) var hasVideo = false
    private var state = State.fileHeader
    private var scratch = (UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0))
    private var scratchCount = 0
    private var fileHeader: ByteBuffer?
    private var fileHeaderLength = 13
    private var fileHeaderChecked = false
    /// The split tag header's bytes from earlier chunks, sent once the tag's kind is known.
    private var held: ByteBuffer?
    /// A tag being copied for the preamble, and which slot it fills.
    private var capture: ByteBuffer?
    private var captureKind = Kind.script

    init(maxTagBytes: Int) {
        self.maxTagBytes = maxTagBytes
    }

    /// Scans `input` and hands the player-bound pieces of it to `emit` in order (usually one,
    /// two when a split tag header is released; none while the file header or a split tag
    /// header is incomplete). The file header is not emitted: it is in `preamble`.
    mutating func scan(_ input: ByteBuffer, emit: (FLVChunk) -> Void) throws(Failure) {
        var input = input
        if case .fileHeader = state {
            guard try readFileHeader(&input) else { return }
        }
        var chunk = FLVChunk(bytes: input)
        let base = input.readerIndex
        var index = base
        let end = base + input.readableBytes
        while index < end {
            switch state {
            case .fileHeader:
                preconditionFailure("the file header is read first")
            case .tagBody(let remaining):
                let n = min(remaining, end - index)
                if capture != nil, let piece = input.getSlice(at: index, length: n) { appendCapture(piece, done: n == remaining) }
                index += n
                state = n == remaining ? .tagHead : .tagBody(remaining: remaining - n)
            case .tagHead:
                let start = index - scratchCount  // may be before this chunk when held
                while scratchCount < 11, index < end {
                    setScratch(scratchCount, input.getInteger(at: index, as: UInt8.self)!)
                    scratchCount += 1
                    index += 1
                }
                guard scratchCount >= 11 else { return hold(input, from: max(start, base), chunk: &chunk, emit: emit) }
                let size = Int(byte(1)) << 16 | Int(byte(2)) << 8 | Int(byte(3))
                let want = 11 + min(size, 2)
                while scratchCount < want, index < end {
                    setScratch(scratchCount, input.getInteger(at: index, as: UInt8.self)!)
                    scratchCount += 1
                    index += 1
                }
                guard scratchCount >= want else { return hold(input, from: max(start, base), chunk: &chunk, emit: emit) }
                let kind = try classify(size: size)
                // Where the tag starts in what players get: a held header is released as its own piece.
                var offset = start - base
                if let held = self.held {
                    self.held = nil
                    var piece = FLVChunk(bytes: held, firstTag: 0)
                    mark(&piece, kind: kind, at: 0)
                    emit(piece)
                    offset = -1
                }
                if offset >= 0 {
                    if chunk.firstTag == nil { chunk.firstTag = offset }
                    mark(&chunk, kind: kind, at: offset)
                }
                let consumed = scratchCount - 11
                scratchCount = 0
                startCapture(kind, size: size, consumed: consumed)
                state = .tagBody(remaining: size - consumed + 4)
            }
        }
        if chunk.bytes.readableBytes > 0 { emit(chunk) }
    }

    // MARK: Pieces

    /// Reads the file header from the front of `input`; true once it is complete.
    private mutating func readFileHeader(_ input: inout ByteBuffer) throws(Failure) -> Bool {
        var header = fileHeader ?? ByteBufferAllocator().buffer(capacity: 13)
        fileHeader = nil
        while true {
            let need = fileHeaderLength - header.readableBytes
            if need > 0 {
                guard input.readableBytes > 0 else {
                    fileHeader = header
                    return false
                }
                var piece = input.readSlice(length: min(need, input.readableBytes))!
                header.writeBuffer(&piece)
            }
            if !fileHeaderChecked && header.readableBytes >= 9 {
                let at = header.readerIndex
                guard header.getString(at: at, length: 3) == "FLV", header.getInteger(at: at + 3, as: UInt8.self) == 1,
                    let offset = header.getInteger(at: at + 5, as: UInt32.self), (9...64).contains(offset)
                else { throw .notFLV }
                fileHeaderChecked = true
                fileHeaderLength = Int(offset) + 4
                continue
            }
            if fileHeaderChecked && header.readableBytes >= fileHeaderLength { break }
        }
        preamble.fileHeader = header
        state = .tagHead
        return true
    }

    private func byte(_ i: Int) -> UInt8 {
        withUnsafeBytes(of: scratch) { $0[i] }
    }

    private mutating func setScratch(_ i: Int, _ value: UInt8) {
        withUnsafeMutableBytes(of: &scratch) { $0[i] = value }
    }

    private mutating func classify(size: Int) throws(Failure) -> Kind {
        guard size + 15 <= maxTagBytes else { throw .tagTooLarge(size + 15) }
        let b0 = size > 0 ? byte(11) : 0
        let b1 = size > 1 ? byte(12) : 0xff
        switch byte(0) & 0x1f {
        case 8:
            let format = b0 >> 4
            if format == 10 && b1 == 0 { return .audioSequence }  // AAC sequence header
            if format == 9 && b0 & 0x0f == 0 { return .audioSequence }  // enhanced audio SequenceStart
            return .audio
        case 9:
            hasVideo = true
            if b0 & 0x80 != 0 {  // enhanced RTMP: frame type in bits 4-6, packet type in bits 0-3
                let packet = b0 & 0x0f
                if packet == 0 || packet == 5 { return .videoSequence }
                return (b0 >> 4) & 0x07 == 1 && (packet == 1 || packet == 3) ? .keyframe : .video
            }
            let codec = b0 & 0x0f
            if codec == 7 || codec == 12 || codec == 13 {  // AVC, HEVC, AV1 (legacy ids): packet type in byte 1
                if b1 == 0 { return .videoSequence }
                return b0 >> 4 == 1 && b1 == 1 ? .keyframe : .video
            }
            return b0 >> 4 == 1 ? .keyframe : .video
        case 18:
            return .script
        case let other:
            throw .unknownTagType(other)
        }
    }

    private var timestamp: UInt32 {
        UInt32(byte(7)) << 24 | UInt32(byte(4)) << 16 | UInt32(byte(5)) << 8 | UInt32(byte(6))
    }

    private func mark(_ chunk: inout FLVChunk, kind: Kind, at offset: Int) {
        let ts = timestamp
        chunk.lastTimestamp = ts
        guard kind == .keyframe else { return }
        if chunk.firstKeyframe == nil { chunk.firstKeyframe = offset }
        chunk.lastKeyframe = offset
        chunk.keyframeTimestamp = ts
    }

    /// The chunk ended inside a tag header: what came before it goes out now, the header's
    /// bytes wait (joined with any held from earlier chunks: a few bytes copied).
    private mutating func hold(_ input: ByteBuffer, from start: Int, chunk: inout FLVChunk, emit: (FLVChunk) -> Void) {
        let base = input.readerIndex
        let tail = input.getSlice(at: start, length: base + input.readableBytes - start)!
        if var held {
            var tail = tail
            held.writeBuffer(&tail)
            self.held = held
        } else {
            self.held = tail
        }
        let before = start - base
        if before > 0 {
            chunk.bytes = input.getSlice(at: base, length: before)!
            emit(chunk)
        }
    }

    private mutating func startCapture(_ kind: Kind, size: Int, consumed: Int) {
        capture = nil
        switch kind {
        case .videoSequence, .audioSequence, .script: break
        default: return
        }
        // Script tags other than onMetaData are let go when complete; a big one is not kept.
        guard kind != .script || size <= 65_536 else { return }
        var buffer = ByteBufferAllocator().buffer(capacity: 11 + size + 4)
        _ = withUnsafeBytes(of: scratch) { buffer.writeBytes($0.prefix(11 + consumed)) }
        capture = buffer
        captureKind = kind
    }

    private mutating func appendCapture(_ piece: ByteBuffer, done: Bool) {
        guard var buffer = capture else { return }
        capture = nil  // one owner while it grows: no copy on write
        var piece = piece
        buffer.writeBuffer(&piece)
        capture = buffer
        if done { finishCapture() }
    }

    private mutating func finishCapture() {
        guard let tag = capture else { return }
        capture = nil
        switch captureKind {
        case .videoSequence: preamble.videoSequence = tag
        case .audioSequence: preamble.audioSequence = tag
        case .script:
            // AMF0 string "onMetaData": 0x02, length 10, the name.
            if tag.getBytes(at: tag.readerIndex + 11, length: 13) == [0x02, 0x00, 0x0a] + Array("onMetaData".utf8) { preamble.metadata = tag }
        default: break
        }
    }
}
