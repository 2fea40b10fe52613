import Foundation
import ProxyCore

/// A registry under test, and how to let time pass for it: a test clock is moved, a real one
/// (a registry that keeps time itself, like a server's key expiry) is waited for.
public struct RegistrySubject: Sendable {
    public var registry: any Registry
    public var pass: @Sendable (Duration) async throws -> Void

    public init(registry: any Registry, pass: @escaping @Sendable (Duration) async throws -> Void) {
        self.registry = registry
        self.pass = pass
    }
}

/// The semantics every Registry keeps (DESIGN §5), as checks any implementation runs: the
/// in-memory one and a shared one run the same list. A subject's registry must be made with
/// `backendAlive` == `RegistryConformance.backendAlive`. Checks use fresh stream keys and backend
/// names, so one shared store can serve them all. A failed check throws a TestFailure naming it.
public enum RegistryConformance {
    public typealias Check = ConformanceCheck<RegistrySubject>

    public static let backendAlive: Duration = .seconds(2)

    public static let checks: [Check] = [
        Check(name: "a heartbeat makes a backend alive; the list is sorted by id") { s in
            let (a, b) = (backend("list-a"), backend("list-b"))
            try await s.registry.heartbeat(b)
            try await s.registry.heartbeat(a)
            let alive = try await s.registry.aliveBackends().filter { [a.id, b.id].contains($0.id) }
            try require(alive == [a, b], "alive backends \(alive.map(\.id)) == [\(a.id), \(b.id)]")
            let records = try await s.registry.backends().filter { [a.id, b.id].contains($0.backend.id) }
            try require(records.count == 2 && records.allSatisfy(\.alive), "both listed as alive: \(records)")
        },
        Check(name: "a heartbeat replaces what the backend announced") { s in
            var a = backend("replace-a")
            try await s.registry.heartbeat(a)
            a.ip = "10.9.9.9"
            a.endpoints[.srt] = [ListenEndpoint(transport: .udp, port: 10080)]
            try await s.registry.heartbeat(a)
            let alive = try await s.registry.aliveBackends().filter { $0.id == a.id }
            try require(alive == [a], "one record with the new ip and endpoints: \(alive)")
        },
        Check(name: "a backend without heartbeats expires after backendAlive") { s in
            let a = backend("expire-a")
            try await s.registry.heartbeat(a)
            try await s.pass(backendAlive + .seconds(1))
            try require(try await !s.registry.aliveBackends().contains { $0.id == a.id }, "expired backend not alive")
            let record = try await s.registry.backends().first { $0.backend.id == a.id }
            try require(record.map { !$0.alive } ?? true, "an expired backend is listed as not alive, or forgotten")
        },
        Check(name: "the gap between a backend's last two heartbeats is its cadence") { s in
            let a = backend("cadence-a")
            try await s.registry.heartbeat(a)
            let first = try await s.registry.backends().first { $0.backend.id == a.id }
            try require(first != nil && first?.heartbeatInterval == nil, "no cadence after one heartbeat: \(String(describing: first))")
            try await s.pass(.milliseconds(1200))
            try await s.registry.heartbeat(a)
            let gap = try await s.registry.backends().first { $0.backend.id == a.id }?.heartbeatInterval ?? 0
            try require(gap >= 1.15 && gap < 1.9, "the cadence is the gap, about 1.2 s: \(gap)")
            try await s.registry.heartbeat(a)
            let kept = try await s.registry.backends().first { $0.backend.id == a.id }?.heartbeatInterval ?? 0
            try require(kept == gap, "a gap under a second keeps the cadence: \(kept) != \(gap)")
        },
        Check(name: "the first claim wins and every later claim gets it back") { s in
            let (k, a, b) = (key(), backend("a").id, backend("b").id)
            let first = try await s.registry.claim(k, backend: a, ttl: .seconds(10), replacing: nil)
            let second = try await s.registry.claim(k, backend: b, ttl: .seconds(10), replacing: nil)
            try require(first.backendID == a && second.backendID == a, "claims: \(first.backendID), \(second.backendID)")
            try require(try await s.registry.route(for: k)?.backendID == a, "route names the winner")
        },
        Check(name: "concurrent claims of one new stream all agree") { s in
            let k = key()
            let winners = try await withThrowingTaskGroup(of: Backend.ID.self) { group in
                for i in 0..<50 {
                    group.addTask { try await s.registry.claim(k, backend: backend("c\(i % 5)").id, ttl: .seconds(10), replacing: nil).backendID }
                }
                return try await group.reduce(into: Set<Backend.ID>()) { $0.insert($1) }
            }
            try require(winners.count == 1, "one winner among 50 claims: \(winners)")
            try require(try await s.registry.route(for: k)?.backendID == winners.first, "the route names it")
        },
        Check(name: "a claim replacing the holder takes the route over; replacing another does not") { s in
            let (k, a, b, c) = (key(), backend("a").id, backend("b").id, backend("c").id)
            _ = try await s.registry.claim(k, backend: a, ttl: .seconds(10), replacing: nil)
            let kept = try await s.registry.claim(k, backend: b, ttl: .seconds(10), replacing: c)
            try require(kept.backendID == a, "replacing a backend that does not hold it changes nothing")
            let moved = try await s.registry.claim(k, backend: b, ttl: .seconds(10), replacing: a)
            try require(moved.backendID == b, "failover moved the route to b")
            try require(try await s.registry.route(for: k)?.backendID == b, "the route names b")
        },
        Check(name: "refresh extends only the holder's route and never shortens it") { s in
            let (k, a, b) = (key(), backend("a").id, backend("b").id)
            _ = try await s.registry.claim(k, backend: a, ttl: .seconds(4), replacing: nil)
            try require(try await !s.registry.refresh(k, backend: b, ttl: .seconds(10)), "a non-holder's refresh is refused")
            try require(try await s.registry.refresh(k, backend: a, ttl: .seconds(1)), "the holder's refresh is accepted")
            try await s.pass(.seconds(2))
            try require(try await s.registry.route(for: k)?.backendID == a, "a shorter refresh did not shorten the route")
            try require(try await s.registry.refresh(k, backend: a, ttl: .seconds(5)), "extended")
            try await s.pass(.seconds(3))
            try require(try await s.registry.route(for: k)?.backendID == a, "the longer refresh kept it past its first expiry")
        },
        Check(name: "a route nobody refreshes expires") { s in
            let (k, a) = (key(), backend("a").id)
            _ = try await s.registry.claim(k, backend: a, ttl: .seconds(1), replacing: nil)
            try require(try await s.registry.routes().contains { $0.key == k }, "listed while live")
            try await s.pass(.milliseconds(2500))
            try require(try await s.registry.route(for: k) == nil, "gone after its ttl")
            try require(try await !s.registry.routes().contains { $0.key == k }, "not listed after its ttl")
            try require(try await !s.registry.refresh(k, backend: a, ttl: .seconds(5)), "an expired route is not revived by refresh")
            let b = backend("b").id
            try require(try await s.registry.claim(k, backend: b, ttl: .seconds(5), replacing: nil).backendID == b, "a new claim wins")
        },
        Check(name: "release drops the route only for its holder") { s in
            let (k, a, b) = (key(), backend("a").id, backend("b").id)
            _ = try await s.registry.claim(k, backend: a, ttl: .seconds(10), replacing: nil)
            try await s.registry.release(k, backend: b)
            try require(try await s.registry.route(for: k)?.backendID == a, "another backend's release changes nothing")
            try await s.registry.release(k, backend: a)
            try require(try await s.registry.route(for: k) == nil, "the holder's release drops it")
        },
        Check(name: "alive backends leave out the expired; a claimed route reads back with its expiry") { s in
            let (k, a, gone) = (key(), backend("snap-a"), backend("snap-gone"))
            try await s.registry.heartbeat(gone)
            try await s.pass(backendAlive + .seconds(1))
            try await s.registry.heartbeat(a)
            let alive = try await s.registry.aliveBackends()
            try require(try await s.registry.route(for: k) == nil, "no route before a claim")
            try require(alive.contains(a) && !alive.contains { $0.id == gone.id }, "alive backends \(alive.map(\.id)) hold \(a.id), not the expired \(gone.id)")
            _ = try await s.registry.claim(k, backend: a.id, ttl: .seconds(10), replacing: nil)
            let after = try await s.registry.route(for: k)
            try require(after?.key == k && after?.backendID == a.id, "the claimed route: \(String(describing: after))")
            let life = after.map { $0.expiresAt.timeIntervalSince($0.claimedAt) } ?? 0
            try require(life > 5 && life < 11, "with its expiry about 10 s after the claim: \(life) s")
        },
        Check(name: "records are stored, read, deleted and expire, per namespace") { s in
            let id = UUID().uuidString
            try await s.registry.putRecord("one", namespace: "hls", id: id, ttl: .seconds(10))
            try await s.registry.putRecord("two", namespace: "rtc", id: id, ttl: .seconds(1))
            try require(try await s.registry.record(namespace: "hls", id: id) == "one", "read back")
            try require(try await s.registry.record(namespace: "rtc", id: id) == "two", "namespaces are separate")
            try await s.registry.putRecord("uno", namespace: "hls", id: id, ttl: .seconds(10))
            try require(try await s.registry.record(namespace: "hls", id: id) == "uno", "a put replaces")
            try await s.pass(.milliseconds(2500))
            try require(try await s.registry.record(namespace: "rtc", id: id) == nil, "expired after its ttl")
            try await s.registry.deleteRecord(namespace: "hls", id: id)
            try require(try await s.registry.record(namespace: "hls", id: id) == nil, "deleted")
            try require(try await s.registry.record(namespace: "hls", id: UUID().uuidString) == nil, "an unknown id is nil")
        },
        Check(name: "a drain is kept apart from heartbeats until undrained; a second drain keeps its start") { s in
            guard let drains = s.registry as? any OriginDrains else { throw TestFailure("registry conformance: the registry keeps no drains") }
            let a = backend("drain-a")
            try await s.registry.heartbeat(a)
            try require(try await drains.drains()[a.id] == nil, "not drained before a drain")
            guard let first = try await drains.drain(a.id, grace: nil) else { throw TestFailure("registry conformance: drain refused") }
            try require(first.closeAt == nil, "no close time without a grace: \(first)")
            try await s.registry.heartbeat(a)
            try require(try await drains.drains()[a.id] != nil, "a heartbeat (re-registration) keeps the drain")
            try await s.pass(.milliseconds(1100))
            let second = try await drains.drain(a.id, grace: .seconds(30))
            let close = second?.closeAt?.timeIntervalSince(first.since) ?? 0
            try require(close > 30.5 && close < 32, "the grace sets the close time 30 s after the second drain: \(String(describing: second))")
            let read = try await drains.drains()[a.id]
            try require(
                read.map { abs($0.since.timeIntervalSince(first.since)) < 0.5 } ?? false, "the first drain's start is kept: \(String(describing: read))")
            try require(
                read?.closing(at: first.since.addingTimeInterval(20)) == false && read?.closing(at: first.since.addingTimeInterval(40)) == true,
                "closing after the grace")
            try require(try await drains.undrain(a.id), "undrain of a drained origin")
            try require(try await !drains.undrain(a.id), "a second undrain finds none")
            try require(try await drains.drains()[a.id] == nil, "undrained")
        },
    ]

    private static func require(_ condition: Bool, _ what: @autoclosure () -> String) throws {
        guard condition else { throw TestFailure("registry conformance: \(what())") }
    }

    /// A backend with rtmp and http endpoints, named uniquely per call site and run.
    static func backend(_ name: String) -> Backend {
        Backend(server: "\(name)-\(runID)", service: "conformance", pid: "1", ip: "10.0.0.1",
                endpoints: [.rtmp: [ListenEndpoint(port: 1935)], .http: [ListenEndpoint(port: 8080)]])
    }

    static func key() -> StreamKey {
        try! StreamKey(vhost: nil, app: "conformance", stream: UUID().uuidString.lowercased())
    }

    private static let runID = String(UInt32.random(in: 0...UInt32.max), radix: 36)
}
