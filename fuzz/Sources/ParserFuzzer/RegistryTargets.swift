// What the registry stores as text and reads back from another proxy (or an attacker with the
// Redis password): Redis replies as hiredis reads them and RedisConnection copies them, routes in
// Redis (RedisRegistry, built here from Sources/Registry/Redis) and the JSON of backends, keys,
// session counts, close requests and WebRTC session records.

import CHiredis
import Foundation

@testable import FuzzRedisRegistry
@testable import ProxyCore
@testable import WebRTC

enum RegistryTargets {
    /// A Redis route value (`<backend id>\n<claimed ms>\n<stream key JSON>`) and its ttl: a route
    /// read from it names a valid key, and its own value form reads back the same route.
    static func redisRoute(_ input: FuzzInput) {
        var r = input.reader
        let pttl = Int(Int16(bitPattern: r.uint16()))
        let text = String(decoding: r.rest(), as: UTF8.self)
        check(RedisReply.string(String(pttl)).integer == pttl && RedisReply.integer(pttl).integer == pttl, "integer replies")
        guard let route = try? RedisRegistry.route(.string(text), .integer(pttl)) else { return }
        checkKey(route.key)
        check(!route.backendID.rawValue.contains("\n"), "backend id with a line break")
        let parts = text.split(separator: "\n", maxSplits: 2, omittingEmptySubsequences: false)
        let keyJSON = String(decoding: try! JSONEncoder().encode(route.key), as: UTF8.self)
        let again = try? RedisRegistry.route(.string("\(route.backendID.rawValue)\n\(parts[1])\n\(keyJSON)"), .integer(pttl))
        check(again?.key == route.key && again?.backendID == route.backendID && again?.claimedAt == route.claimedAt, "route does not read back from its value")
        check(route.expiresAt >= Date().addingTimeInterval(-1), "a route that expired before it was read")
        check((try? RedisRegistry.route(.integer(1), .integer(pttl))) == nil && (try? RedisRegistry.route(.string(text), .null)) == nil, "a route from a non-string value or without a ttl")
    }

    /// Decodes `T` from `data`; when it decodes, checks `valid` and that its JSON reads back equal.
    static func roundTrip<T: Codable & Equatable>(_ type: T.Type, _ data: Data, _ valid: (T) -> Void = { _ in }) {
        guard let value = try? JSONDecoder().decode(T.self, from: data) else { return }
        valid(value)
        let encoded = try? JSONEncoder().encode(value)
        check(encoded.flatMap { try? JSONDecoder().decode(T.self, from: $0) } == value, "\(T.self) does not read back from its JSON")
    }

    /// The registry's stored JSON: whatever decodes is valid (keys, endpoints) and reads back
    /// the same after encoding.
    static func storedJSON(_ input: FuzzInput) {
        var r = input.reader
        let which = r.byte() % 7
        let data = Data(r.rest())
        switch which {
        case 0: roundTrip(Backend.self, data) { b in
            for (_, endpoints) in b.endpoints { check(endpoints.allSatisfy { (0...65535).contains($0.port) }, "endpoint port out of range") }
        }
        case 1: roundTrip(StreamKey.self, data, checkKey)
        case 2: roundTrip(SessionCounts.Entry.self, data) { checkKey($0.key) }
        case 3: roundTrip(StreamCloseRequest.self, data) { checkKey($0.key) }
        case 4: roundTrip(SessionCounts.self, data) { $0.entries.forEach { checkKey($0.key) } }
        case 5: roundTrip(WebRTCSessionRecord.self, data) { checkKey($0.stream) }
        default: roundTrip(WebRTCResourceRecord.self, data)
        }
    }

    /// Redis replies off the wire, read by hiredis' reader and copied by RedisConnection.convert:
    /// the same replies (and the same protocol error, if any) however the bytes are cut into reads.
    static func redisReplies(_ input: FuzzInput) {
        var r = input.reader
        let cut = Int(r.uint16())
        let bytes = r.rest()
        // hiredis allocates an array's element table from its announced count before the first
        // element arrives; a count of millions is an allocation, not a parser path.
        guard !announcesLargeArray(bytes) else { return }
        let whole = readReplies([bytes])
        let split = min(cut, bytes.count)
        let pieces = readReplies([Array(bytes[..<split]), Array(bytes[split...])])
        check(whole.replies == pieces.replies && whole.failed == pieces.failed, "cut at \(split) of \(bytes.count): \(whole) vs \(pieces)")
        for reply in whole.replies { check(size(reply) <= bytes.count, "a reply larger than its input") }
    }

    private static func readReplies(_ chunks: [[UInt8]]) -> (replies: [RedisReply], failed: Bool) {
        guard let reader = redisReaderCreate() else { return ([], true) }
        defer { redisReaderFree(reader) }
        var replies: [RedisReply] = []
        for chunk in chunks {
            let fed = chunk.withUnsafeBufferPointer { b in
                b.withMemoryRebound(to: CChar.self) { redisReaderFeed(reader, $0.baseAddress, $0.count) }
            }
            if fed != REDIS_OK { return (replies, true) }
            while true {
                var raw: UnsafeMutableRawPointer?
                if redisReaderGetReply(reader, &raw) != REDIS_OK { return (replies, true) }
                guard let raw else { break }
                replies.append(RedisConnection.convert(raw.assumingMemoryBound(to: redisReply.self)))
                freeReplyObject(raw)
            }
        }
        return (replies, false)
    }

    /// A `*` followed by six or more digits anywhere in the input.
    private static func announcesLargeArray(_ b: [UInt8]) -> Bool {
        var i = 0
        while i < b.count {
            if b[i] == UInt8(ascii: "*") {
                var j = i + 1
                if j < b.count, b[j] == UInt8(ascii: "-") { j += 1 }
                let start = j
                while j < b.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b[j]) { j += 1 }
                if j - start >= 6 { return true }
            }
            i += 1
        }
        return false
    }

    /// Characters of text a reply holds, at least one per element. Counted in Unicode scalars:
    /// bytes that are not UTF-8 become one U+FFFD each, which is three bytes of UTF-8 but never
    /// more scalars than the bytes they came from.
    private static func size(_ reply: RedisReply) -> Int {
        switch reply {
        case .string(let s), .status(let s), .error(let s): s.unicodeScalars.count
        case .integer, .null: 1
        case .array(let a): a.reduce(1) { $0 + size($1) }
        }
    }
}
