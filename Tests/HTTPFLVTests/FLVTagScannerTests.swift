import NIOCore
import Testing

@testable import HTTPFLV

@Suite struct FLVTagScannerTests {
    static let fileHeader: [UInt8] = [0x46, 0x4c, 0x56, 0x01, 0x05, 0, 0, 0, 9, 0, 0, 0, 0]

    static func tag(_ type: UInt8, _ timestamp: UInt32, _ data: [UInt8]) -> [UInt8] {
        let size = data.count
        let header: [UInt8] = [
            type, UInt8(size >> 16 & 0xff), UInt8(size >> 8 & 0xff), UInt8(size & 0xff),
            UInt8(timestamp >> 16 & 0xff), UInt8(timestamp >> 8 & 0xff), UInt8(timestamp & 0xff), UInt8(timestamp >> 24),
            0, 0, 0,
        ]
        let previous = UInt32(11 + size)
        return header + data + [UInt8(previous >> 24), UInt8(previous >> 16 & 0xff), UInt8(previous >> 8 & 0xff), UInt8(previous & 0xff)]
    }

    static let metadata = tag(18, 0, [0x02, 0x00, 0x0a] + Array("onMetaData".utf8) + [0x08, 0, 0, 0, 0, 0, 0, 9])
    static let avcSequence = tag(9, 0, [0x17, 0x00, 0, 0, 0, 1, 2, 3])
    static let aacSequence = tag(8, 0, [0xaf, 0x00, 0x12, 0x10])
    static func keyframe(_ ts: UInt32) -> [UInt8] { tag(9, ts, [0x17, 0x01, 0, 0, 0] + [UInt8](repeating: 7, count: 300)) }
    static func inter(_ ts: UInt32) -> [UInt8] { tag(9, ts, [0x27, 0x01, 0, 0, 0] + [UInt8](repeating: 8, count: 100)) }
    static func audio(_ ts: UInt32) -> [UInt8] { tag(8, ts, [0xaf, 0x01] + [UInt8](repeating: 9, count: 50)) }

    static var stream: [UInt8] {
        fileHeader + metadata + avcSequence + aacSequence + keyframe(0) + audio(10) + inter(40) + audio(33) + inter(80) + keyframe(1000) + inter(1040)
    }

    struct Result {
        var bytes: [UInt8] = []
        var tagMarks: [Int] = []
        var keyframes: [Int] = []
        var timestamps: [UInt32] = []
    }

    static func scan(_ pieces: [[UInt8]], scanner: inout FLVTagScanner) throws -> Result {
        var out = Result()
        for piece in pieces {
            try scanner.scan(ByteBuffer(bytes: piece)) { chunk in
                let base = out.bytes.count
                if let t = chunk.firstTag { out.tagMarks.append(base + t) }
                if let k = chunk.firstKeyframe { out.keyframes.append(base + k) }
                if let k = chunk.lastKeyframe, k != chunk.firstKeyframe {
                    out.keyframes.append(base + k)
                    out.timestamps.append(chunk.keyframeTimestamp)
                } else if chunk.lastKeyframe != nil {
                    out.timestamps.append(chunk.keyframeTimestamp)
                }
                out.bytes += chunk.bytes.readableBytesView
            }
        }
        return out
    }

    @Test func aWholeStreamKeepsThePreambleAndMarksKeyframes() throws {
        var scanner = FLVTagScanner(maxTagBytes: 1 << 20)
        let result = try Self.scan([Self.stream], scanner: &scanner)
        #expect(result.bytes == Array(Self.stream.dropFirst(13)), "players get every byte after the file header, unchanged")
        #expect(result.tagMarks == [0])
        let first = Self.metadata.count + Self.avcSequence.count + Self.aacSequence.count
        let second = first + Self.keyframe(0).count + Self.audio(10).count + Self.inter(40).count + Self.audio(33).count + Self.inter(80).count
        #expect(result.keyframes == [first, second])
        #expect(result.timestamps == [1000])
        let preamble = scanner.preamble
        #expect(preamble.fileHeader.map { Array($0.readableBytesView) } == Self.fileHeader)
        #expect(preamble.metadata.map { Array($0.readableBytesView) } == Self.metadata)
        #expect(preamble.videoSequence.map { Array($0.readableBytesView) } == Self.avcSequence)
        #expect(preamble.audioSequence.map { Array($0.readableBytesView) } == Self.aacSequence)
        #expect(scanner.hasVideo)
    }

    @Test func byteByByteFindsTheSameTagsAndKeyframes() throws {
        var whole = FLVTagScanner(maxTagBytes: 1 << 20)
        let expected = try Self.scan([Self.stream], scanner: &whole)
        var scanner = FLVTagScanner(maxTagBytes: 1 << 20)
        let result = try Self.scan(Self.stream.map { [$0] }, scanner: &scanner)
        #expect(result.bytes == expected.bytes)
        #expect(result.keyframes == expected.keyframes, "a split tag header is held until its kind is known")
        #expect(Set(result.tagMarks).count == 10, "every tag start is marked when each chunk is one byte")
        #expect(scanner.preamble.videoSequence.map { Array($0.readableBytesView) } == Self.avcSequence)
        #expect(scanner.preamble.metadata.map { Array($0.readableBytesView) } == Self.metadata)
    }

    @Test(arguments: [1, 5, 12, 13, 14, 24, 100, 333, 1000])
    func cutsAnywhereGiveTheSameBytes(cut: Int) throws {
        var whole = FLVTagScanner(maxTagBytes: 1 << 20)
        let expected = try Self.scan([Self.stream], scanner: &whole)
        var scanner = FLVTagScanner(maxTagBytes: 1 << 20)
        let stream = Self.stream
        let pieces = stride(from: 0, to: stream.count, by: cut).map { Array(stream[$0..<min($0 + cut, stream.count)]) }
        let result = try Self.scan(pieces, scanner: &scanner)
        #expect(result.bytes == expected.bytes)
        #expect(Set(result.keyframes).isSuperset(of: expected.keyframes))
    }

    @Test func enhancedRTMPVideoIsClassified() throws {
        // HEVC in enhanced RTMP: IsExHeader | frame type 1, packet type 0 (sequence start) / 1 (coded frames).
        let sequence = Self.tag(9, 0, [0x90, 0x68, 0x76, 0x63, 0x31, 1, 2])
        let key = Self.tag(9, 40, [0x91, 0x68, 0x76, 0x63, 0x31, 0, 0, 0, 5])
        let interframe = Self.tag(9, 80, [0xa1, 0x68, 0x76, 0x63, 0x31, 0, 0, 0, 5])
        var scanner = FLVTagScanner(maxTagBytes: 1 << 20)
        let result = try Self.scan([Self.fileHeader + sequence + key + interframe], scanner: &scanner)
        #expect(result.keyframes == [sequence.count])
        #expect(scanner.preamble.videoSequence.map { Array($0.readableBytesView) } == sequence)
    }

    @Test func audioOnlyStreamsHaveNoVideo() throws {
        var scanner = FLVTagScanner(maxTagBytes: 1 << 20)
        let result = try Self.scan([Self.fileHeader + Self.aacSequence + Self.audio(0) + Self.audio(23)], scanner: &scanner)
        #expect(!scanner.hasVideo)
        #expect(result.keyframes.isEmpty && result.tagMarks == [0])
    }

    @Test func badInputStopsTheStream() {
        var scanner = FLVTagScanner(maxTagBytes: 1 << 20)
        #expect(throws: FLVTagScanner.Failure.notFLV) { try scanner.scan(ByteBuffer(string: "HTTP/1.1 200 OK\r\n\r\n")) { _ in } }
        var unknown = FLVTagScanner(maxTagBytes: 1 << 20)
        #expect(throws: FLVTagScanner.Failure.unknownTagType(7)) { try unknown.scan(ByteBuffer(bytes: Self.fileHeader + Self.tag(7, 0, [1, 2, 3]))) { _ in } }
        var small = FLVTagScanner(maxTagBytes: 65_536)
        let big = Self.tag(9, 0, [0x27, 0x01] + [UInt8](repeating: 0, count: 70_000))
        #expect(throws: FLVTagScanner.Failure.tagTooLarge(70_002 + 15)) { try small.scan(ByteBuffer(bytes: Self.fileHeader + Array(big.prefix(20)))) { _ in } }
    }
}
