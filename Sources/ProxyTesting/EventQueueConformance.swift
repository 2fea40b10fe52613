import Foundation
import ProxyCore

/// An event queue under test (a fresh, empty one per check), and how to let time pass for it.
public struct EventQueueSubject: Sendable {
    public var queue: any EventQueue
    public var pass: @Sendable (Duration) async throws -> Void

    public init(queue: any EventQueue, pass: @escaping @Sendable (Duration) async throws -> Void) {
        self.queue = queue
        self.pass = pass
    }
}

/// The semantics every EventQueue keeps (the event-callback queue in the Registry), as checks
/// the in-memory and the Redis registry both run. Each check needs an empty queue of its own.
/// Durations are second-scale so a real clock (Redis) passes them reliably.
public enum EventQueueConformance {
    public typealias Check = ConformanceCheck<EventQueueSubject>

    public static let checks: [Check] = [
        Check(name: "enqueued items are claimed once each, with their payloads and attempt 1") { s in
            for i in 0..<5 { try require(try await s.queue.enqueue(id: "e\(i)", payload: "payload \(i)", limit: 100), "enqueue e\(i)") }
            try require(try await s.queue.queuedEvents() == 5, "five queued")
            let first = try await s.queue.claim(max: 3, lease: .seconds(10))
            let second = try await s.queue.claim(max: 10, lease: .seconds(10))
            try require(first.count == 3 && second.count == 2, "claim honours max: \(first.count) then \(second.count)")
            let all = (first + second).sorted { $0.id < $1.id }
            try require(all.map(\.id) == (0..<5).map { "e\($0)" }, "every item once: \(all.map(\.id))")
            try require(all.allSatisfy { $0.payload == "payload \($0.id.dropFirst())" && $0.attempts == 1 }, "payloads and attempts: \(all)")
            try require(try await s.queue.claim(max: 10, lease: .seconds(10)).isEmpty, "claimed items are hidden")
        },
        Check(name: "an item claimed and never acked comes back when its lease ends, as the next attempt") { s in
            _ = try await s.queue.enqueue(id: "lease", payload: "p", limit: 10)
            try require(try await s.queue.claim(max: 1, lease: .seconds(1)).map(\.attempts) == [1], "first claim")
            try require(try await s.queue.claim(max: 1, lease: .seconds(1)).isEmpty, "hidden during the lease")
            try await s.pass(.milliseconds(1600))
            let again = try await s.queue.claim(max: 1, lease: .seconds(10))
            try require(again.map(\.id) == ["lease"] && again.first?.attempts == 2, "claimable again as attempt 2: \(again)")
        },
        Check(name: "ack removes an item for good") { s in
            _ = try await s.queue.enqueue(id: "acked", payload: "p", limit: 10)
            _ = try await s.queue.enqueue(id: "kept", payload: "q", limit: 10)
            let claimed = try await s.queue.claim(max: 10, lease: .seconds(1))
            try require(claimed.count == 2, "both claimed")
            try await s.queue.ack("acked")
            try require(try await s.queue.queuedEvents() == 1, "one left after the ack")
            try await s.pass(.milliseconds(1600))
            let after = try await s.queue.claim(max: 10, lease: .seconds(10))
            try require(after.map(\.id) == ["kept"], "only the unacked item returns: \(after.map(\.id))")
            try await s.queue.ack("kept")
            try await s.queue.ack("never-queued")
            try require(try await s.queue.queuedEvents() == 0, "empty")
        },
        Check(name: "retry hides an item until its delay passes; items due earlier are claimed first") { s in
            _ = try await s.queue.enqueue(id: "late", payload: "p", limit: 10)
            _ = try await s.queue.claim(max: 1, lease: .seconds(30))
            try await s.queue.retry("late", after: .seconds(1))
            try await s.queue.retry("unknown", after: .seconds(1))
            try require(try await s.queue.queuedEvents() == 1, "retry of an unknown id adds nothing")
            _ = try await s.queue.enqueue(id: "new", payload: "q", limit: 10)
            try require(try await s.queue.claim(max: 10, lease: .seconds(30)).map(\.id) == ["new"], "only the new item is due")
            try await s.pass(.milliseconds(1600))
            let retried = try await s.queue.claim(max: 10, lease: .seconds(30))
            try require(retried.map(\.id) == ["late"] && retried.first?.attempts == 2, "the retried item is due again: \(retried)")
            try await s.queue.retry("late", after: .zero)
            _ = try await s.queue.enqueue(id: "newer", payload: "r", limit: 10)
            try await s.pass(.milliseconds(20))
            let order = try await s.queue.claim(max: 1, lease: .seconds(30))
            try require(order.map(\.id) == ["late"], "the item due first is claimed first: \(order.map(\.id))")
        },
        Check(name: "the limit counts claimed items; a full queue refuses; an id is queued once") { s in
            try require(try await s.queue.enqueue(id: "a", payload: "1", limit: 2), "a")
            try require(try await s.queue.enqueue(id: "a", payload: "1", limit: 2), "a again is accepted")
            try require(try await s.queue.queuedEvents() == 1, "but not added twice")
            try require(try await s.queue.enqueue(id: "b", payload: "2", limit: 2), "b")
            _ = try await s.queue.claim(max: 1, lease: .seconds(30))
            try require(try await !s.queue.enqueue(id: "c", payload: "3", limit: 2), "a full queue refuses c")
            try require(try await s.queue.queuedEvents() == 2, "two queued")
            let claimed = try await s.queue.claim(max: 10, lease: .seconds(30))
            try require(claimed.count == 1 && claimed[0].id != "c", "c was dropped: \(claimed.map(\.id))")
        },
        Check(name: "queued items are found by part of their id, claimed or not, without claiming them") { s in
            for id in ["s1.stream-closed.0", "s1.stream-closed.1", "s2.stream-available.0", "s3.stream-closed.0"] {
                _ = try await s.queue.enqueue(id: id, payload: "p-\(id)", limit: 10)
            }
            _ = try await s.queue.claim(max: 1, lease: .seconds(30))
            let found = try await s.queue.queuedEvents(idContaining: ".stream-closed.", max: 10)
            try require(Set(found.map(\.id)) == ["s1.stream-closed.0", "s1.stream-closed.1", "s3.stream-closed.0"], "three closed: \(found.map(\.id))")
            try require(found.allSatisfy { $0.payload == "p-\($0.id)" }, "with their payloads")
            try require(found.first { $0.id == "s1.stream-closed.0" }?.attempts == 1, "the claimed one counts its claim")
            try require(try await s.queue.queuedEvents(idContaining: ".stream-closed.", max: 2).count == 2, "at most max")
            let due = try await s.queue.claim(max: 10, lease: .seconds(30))
            try require(due.count == 3, "finding claimed nothing: \(due.map(\.id))")
            try await s.queue.ack("s3.stream-closed.0")
            try require(try await s.queue.queuedEvents(idContaining: "s3.", max: 10).isEmpty, "an acked item is not found")
        },
        Check(name: "concurrent claimers never get one item twice within a lease") { s in
            for i in 0..<40 { _ = try await s.queue.enqueue(id: "c\(i)", payload: "\(i)", limit: 100) }
            let ids = try await withThrowingTaskGroup(of: [String].self) { group in
                for _ in 0..<20 { group.addTask { try await s.queue.claim(max: 3, lease: .seconds(30)).map(\.id) } }
                return try await group.reduce(into: [String]()) { $0 += $1 }
            }
            let rest = try await s.queue.claim(max: 100, lease: .seconds(30)).map(\.id)
            let all = ids + rest
            try require(all.count == 40 && Set(all).count == 40, "40 distinct claims: \(all.count), \(Set(all).count) distinct")
        },
        Check(name: "payloads keep their bytes: JSON, new lines, non-ASCII") { s in
            let payload = #"{"url":"http://h/x","body":"{\"stream\":\"流\"}\n"}"# + "\r\n\u{0}end"
            _ = try await s.queue.enqueue(id: "bytes", payload: payload, limit: 10)
            try require(try await s.queue.claim(max: 1, lease: .seconds(10)).first?.payload == payload, "payload round-trips")
        },
    ]

    private static func require(_ condition: Bool, _ what: @autoclosure () -> String) throws {
        guard condition else { throw TestFailure("event queue conformance: \(what())") }
    }
}
