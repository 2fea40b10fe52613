// HTTP-FLV fan-out: the FLV tag scanner an origin's response body goes through.

import NIOCore

@testable import HTTPFLV

enum FanoutTargets {
    /// What a scan of a whole input found: the bytes players get, and the absolute positions
    /// (in those bytes) of tag starts and keyframes, and how it ended.
    struct Scan: Equatable {
        var bytes: [UInt8] = []
        var tags: [Int] = []
        var keyframes: [Int] = []
        var failure: FLVTagScanner.Failure?
        var headerLength: Int?
    }

    static func scan(_ pieces: [[UInt8]], maxTagBytes: Int) -> Scan {
        var scanner = FLVTagScanner(maxTagBytes: maxTagBytes)
        var out = Scan()
        for piece in pieces {
            do {
                try scanner.scan(ByteBuffer(bytes: piece)) { chunk in
                    let base = out.bytes.count
                    if let t = chunk.firstTag { out.tags.append(base + t) }
                    if let k = chunk.firstKeyframe { out.keyframes.append(base + k) }
                    if let k = chunk.lastKeyframe, k != chunk.firstKeyframe { out.keyframes.append(base + k) }
                    check(chunk.firstTag.map { $0 >= 0 && $0 < chunk.bytes.readableBytes } ?? true, "tag mark outside its chunk")
                    check(chunk.firstKeyframe.map { $0 >= (chunk.firstTag ?? .max) && $0 < chunk.bytes.readableBytes } ?? true, "keyframe mark before the first tag or outside")
                    check(chunk.bytes.readableBytes > 0, "an empty chunk")
                    out.bytes += chunk.bytes.readableBytesView
                }
            } catch {
                out.failure = error
                break
            }
        }
        out.headerLength = scanner.preamble.fileHeader?.readableBytes
        return out
    }

    /// The scanner over an input cut anywhere finds what it finds over the whole input: the same
    /// player bytes (the input after the file header, up to a failure), tag starts (the first of
    /// each chunk) that are real tag starts, keyframes at the same places, the same failure;
    /// the preamble's tags are whole (their previous-tag-size field matches their length).
    static func flvTagScanner(_ input: FuzzInput) {
        var r = input.reader
        let cuts = Int(r.byte() % 8)
        var points: [Int] = []
        for _ in 0..<cuts { points.append(Int(r.uint16())) }
        // An FLV header in front most of the time, so the fuzzer reaches the tags.
        var body = r.rest()
        if body.first.map({ $0 & 1 == 0 }) ?? false {
            body = [0x46, 0x4c, 0x56, 0x01, 0x05, 0, 0, 0, 9, 0, 0, 0, 0] + body.dropFirst()
        }
        let maxTag = 65_536
        let whole = scan([body], maxTagBytes: maxTag)
        var pieces: [[UInt8]] = []
        var last = 0
        for point in points.map({ body.isEmpty ? 0 : $0 % (body.count + 1) }).sorted() where point > last {
            pieces.append(Array(body[last..<point]))
            last = point
        }
        pieces.append(Array(body[last...]))
        let cut = scan(pieces, maxTagBytes: maxTag)
        check(cut.failure == whole.failure, "failure \(String(describing: cut.failure)) cut vs \(String(describing: whole.failure)) whole")
        if whole.failure == nil {
            check(cut.bytes == whole.bytes, "player bytes differ when cut")
            check(cut.keyframes == whole.keyframes || Set(cut.keyframes).isSuperset(of: whole.keyframes), "keyframes differ when cut")
            check(Set(whole.tags).union(cut.tags).isSubset(of: tagStarts(whole.bytes)), "a tag mark that is no tag start")
            if let header = whole.headerLength { check(Array(body.dropFirst(header)).starts(with: whole.bytes), "player bytes are not the body after the header") }
        }
    }

    /// Every tag start in player bytes (a walk over the tag sizes).
    static func tagStarts(_ bytes: [UInt8]) -> Set<Int> {
        var starts: Set<Int> = []
        var i = 0
        while i + 11 <= bytes.count {
            starts.insert(i)
            let size = Int(bytes[i + 1]) << 16 | Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])
            i += 11 + size + 4
        }
        if i < bytes.count { starts.insert(i) }
        return starts
    }
}
