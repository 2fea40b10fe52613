// What the registry stores as text and reads back from another proxy (or an attacker with the
// Redis password): routes in Redis (RedisRegistry, built here from Sources/Registry/Redis) and
// the JSON of backends, keys, session counts, close requests and WebRTC session records.

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
}
