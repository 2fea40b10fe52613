import Foundation
import ProxyCore

/// A store of session counts and close requests under test, and how to let time pass for it
/// (see RegistrySubject).
public struct CommandsStoreSubject: Sendable {
    public var store: any SessionCountStore & StreamCloseBroadcast
    public var pass: @Sendable (Duration) async throws -> Void

    public init(store: any SessionCountStore & StreamCloseBroadcast, pass: @escaping @Sendable (Duration) async throws -> Void) {
        self.store = store
        self.pass = pass
    }
}

/// What every registry keeps for the commands API (session counts every proxy publishes, the
/// close request log every proxy polls), as checks the in-memory and the Redis registry both
/// run. Checks use fresh proxy ids; the close log checks need a store of their own.
public enum SessionCountConformance {
    public typealias Check = ConformanceCheck<CommandsStoreSubject>

    public static let checks: [Check] = [
        Check(name: "published counts are read back whole, with limits") { s in
            let p = proxy("read")
            let counts = SessionCounts(proxy: p, entries: [entry("a", publishers: 1, players: 2), entry("b", kind: .srt, players: 3)], limits: ["srt": 10])
            try await s.store.publishSessionCounts(counts, ttl: .seconds(10))
            let live = try await mine(s, [p])
            try require(live.count == 1, "one record: \(live)")
            try require(live[0].entries == counts.entries, "entries read back: \(live[0].entries)")
            try require(live[0].limits == ["srt": 10], "limits read back: \(live[0].limits)")
            try require(abs(live[0].updatedAt.timeIntervalSinceNow) < 3600 * 24 * 365 * 30, "an update time is set")
        },
        Check(name: "a publish replaces the proxy's figures; proxies are listed by id") { s in
            let (a, b) = (proxy("b-second"), proxy("a-first"))
            try await s.store.publishSessionCounts(SessionCounts(proxy: a, entries: [entry("x", players: 1), entry("y", players: 1)]), ttl: .seconds(10))
            try await s.store.publishSessionCounts(SessionCounts(proxy: b, entries: [entry("z", publishers: 1)]), ttl: .seconds(10))
            try await s.store.publishSessionCounts(SessionCounts(proxy: a, entries: [entry("y", players: 4)]), ttl: .seconds(10))
            let live = try await mine(s, [a, b])
            try require(live.map(\.proxy) == [b, a], "sorted by proxy id: \(live.map(\.proxy))")
            try require(live[1].entries == [entry("y", players: 4)], "the second publish replaced the first: \(live[1].entries)")
        },
        Check(name: "a proxy that stops publishing disappears after its ttl; remove is at once") { s in
            let (a, b) = (proxy("expire"), proxy("remove"))
            try await s.store.publishSessionCounts(SessionCounts(proxy: a, entries: [entry("e", players: 1)]), ttl: .seconds(1))
            try await s.store.publishSessionCounts(SessionCounts(proxy: b, entries: [entry("r", players: 1)]), ttl: .seconds(30))
            try require(try await mine(s, [a, b]).count == 2, "both listed while live")
            try await s.store.removeSessionCounts(proxy: b)
            try require(try await mine(s, [a, b]).map(\.proxy) == [a], "removed at once")
            try await s.pass(.milliseconds(2500))
            try require(try await mine(s, [a, b]).isEmpty, "gone after its ttl")
        },
        Check(name: "concurrent publishes of many proxies are all kept") { s in
            let ids = (0..<20).map { proxy("many\($0)") }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (i, id) in ids.enumerated() {
                    group.addTask {
                        for round in 0..<3 {
                            try await s.store.publishSessionCounts(SessionCounts(proxy: id, entries: [entry("m", players: i * 10 + round)]), ttl: .seconds(10))
                        }
                    }
                }
                try await group.waitForAll()
            }
            let live = try await mine(s, ids)
            try require(live.count == 20, "20 proxies listed: \(live.count)")
            try require(live.allSatisfy { c in c.entries.count == 1 && c.entries[0].players % 10 == 2 }, "each proxy's last publish: \(live.map { $0.entries.map(\.players) })")
        },
        Check(name: "close requests: a new reader starts at the end; later requests come once, in order") { s in
            let start = try await s.store.closeRequests(after: nil)
            try require(start.requests.isEmpty, "no replay for a reader without a cursor")
            let one = StreamCloseRequest(key: key("one"), origin: proxy("origin")), two = StreamCloseRequest(key: key("two"), origin: proxy("origin"))
            try await s.store.broadcastClose(one, ttl: .seconds(10))
            try await s.store.broadcastClose(two, ttl: .seconds(10))
            let batch = try await s.store.closeRequests(after: start.cursor)
            try require(batch.requests == [one, two], "both, oldest first: \(batch.requests)")
            try require(batch.cursor > start.cursor, "the cursor moved")
            try require(try await s.store.closeRequests(after: batch.cursor).requests.isEmpty, "nothing new after the new cursor")
            try require(try await s.store.closeRequests(after: nil).requests.isEmpty, "a late reader sees none")
        },
        Check(name: "close requests expire after their ttl and the log is bounded") { s in
            let start = try await s.store.closeRequests(after: nil)
            try await s.store.broadcastClose(StreamCloseRequest(key: key("short"), origin: "o"), ttl: .seconds(1))
            try await s.pass(.milliseconds(2500))
            try require(try await s.store.closeRequests(after: start.cursor).requests.isEmpty, "an expired request is not returned")
            let before = try await s.store.closeRequests(after: nil)
            for i in 0..<(StreamCloseLog.maxRequests + 20) {
                try await s.store.broadcastClose(StreamCloseRequest(key: key("flood\(i)"), origin: "o"), ttl: .seconds(30))
            }
            let batch = try await s.store.closeRequests(after: before.cursor)
            try require(batch.requests.count == StreamCloseLog.maxRequests, "at most \(StreamCloseLog.maxRequests) kept: \(batch.requests.count)")
            try require(batch.requests.last?.key == key("flood\(StreamCloseLog.maxRequests + 19)"), "the newest are kept")
        },
    ]

    private static func mine(_ s: CommandsStoreSubject, _ ids: [String]) async throws -> [SessionCounts] {
        try await s.store.liveSessionCounts().filter { ids.contains($0.proxy) }
    }

    private static func require(_ condition: Bool, _ what: @autoclosure () -> String) throws {
        guard condition else { throw TestFailure("session count conformance: \(what())") }
    }

    static func proxy(_ name: String) -> String { "proxy-\(name)-\(runID)" }

    static func key(_ stream: String) -> StreamKey { try! StreamKey(vhost: nil, app: "live", stream: "\(stream)-\(runID)") }

    static func entry(_ stream: String, kind: EndpointKind = .rtmp, publishers: Int = 0, players: Int = 0) -> SessionCounts.Entry {
        SessionCounts.Entry(
            key: key(stream), backend: Backend.ID("origin-\(runID)"), kind: kind, module: kind.rawValue, publishers: publishers, players: players,
            bytesFromClients: UInt64(publishers * 1000), bytesToClients: UInt64(players * 2000))
    }

    private static let runID = String(UInt32.random(in: 0...UInt32.max), radix: 36)
}
