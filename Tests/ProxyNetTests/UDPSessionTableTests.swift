import NIOCore
import Testing

@testable import ProxyNet

@Suite struct UDPSessionTableTests {
    let a = try! SocketAddress(ipAddress: "127.0.0.1", port: 5000)
    let b = try! SocketAddress(ipAddress: "127.0.0.1", port: 5001)
    let c = try! SocketAddress(ipAddress: "127.0.0.1", port: 5002)
    let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)

    @Test func findsSessionsByIDAndByAddress() throws {
        var table = UDPSessionTable<UInt32, String>(capacity: 4, idleTimeout: .seconds(10))
        try table.insert(id: 7, address: a, session: "seven", now: t0)
        try table.insert(id: 8, address: b, session: "eight", now: t0)
        #expect(table.session(forID: 7, now: t0) == "seven")
        #expect(table.session(forAddress: b, now: t0) == "eight")
        #expect(table.session(forAddress: c, now: t0) == nil)
        #expect(table.session(forID: 9, now: t0) == nil)
        #expect(table.count == 2)
    }

    @Test func capsTheNumberOfSessionsAndRejectsDuplicates() throws {
        var table = UDPSessionTable<UInt32, String>(capacity: 2, idleTimeout: .seconds(10))
        try table.insert(id: 1, address: a, session: "1", now: t0)
        #expect(throws: UDPSessionTableError.duplicateID) { try table.insert(id: 1, address: c, session: "x", now: t0) }
        try table.insert(id: 2, address: b, session: "2", now: t0)
        #expect(table.isFull)
        #expect(throws: UDPSessionTableError.full(2)) { try table.insert(id: 3, address: c, session: "3", now: t0) }
        table.remove(id: 1)
        try table.insert(id: 3, address: c, session: "3", now: t0)
        #expect(table.session(forAddress: a, now: t0) == nil, "a removed session's address no longer matches")
    }

    @Test func expiresIdleSessionsOnly() throws {
        var table = UDPSessionTable<String, Int>(capacity: 8, idleTimeout: .seconds(10))
        try table.insert(id: "idle", address: a, session: 1, now: t0)
        try table.insert(id: "busy", address: b, session: 2, now: t0)
        _ = table.session(forAddress: b, now: t0 + .seconds(8))
        let expired = table.expire(now: t0 + .seconds(11))
        #expect(expired.map(\.id) == ["idle"])
        #expect(table.count == 1)
        #expect(table.session(forAddress: a, now: t0 + .seconds(11)) == nil)
        #expect(table.expire(now: t0 + .seconds(17)).isEmpty, "touched at 8 s, so alive until 18 s")
        #expect(table.expire(now: t0 + .seconds(19)).map(\.id) == ["busy"])
    }

    @Test func rebindMovesASessionToANewAddress() throws {
        var table = UDPSessionTable<String, Int>(capacity: 8, idleTimeout: .seconds(10))
        try table.insert(id: "ufrag", address: a, session: 1, now: t0)
        guard case .moved(let displaced) = table.rebind(id: "ufrag", to: c) else {
            Issue.record("rebind of a known id must move it")
            return
        }
        #expect(displaced == nil)
        #expect(table.session(forAddress: a, now: t0) == nil)
        #expect(table.session(forAddress: c, now: t0) == 1)
        #expect(table.entry(forID: "ufrag")?.address == c)
        guard case .unknownID = table.rebind(id: "unknown", to: b) else {
            Issue.record("rebind of an unknown id must report it")
            return
        }
    }

    @Test func anAddressBelongsToOneSession() throws {
        var table = UDPSessionTable<String, Int>(capacity: 8, idleTimeout: .seconds(10))
        try table.insert(id: "old", address: a, session: 1, now: t0)
        let displaced = try table.insert(id: "new", address: a, session: 2, now: t0)
        #expect(displaced?.id == "old" && displaced?.session == 1, "the caller gets the replaced session to tear down")
        #expect(table.session(forAddress: a, now: t0) == 2)
        #expect(table.entry(forID: "old") == nil, "the older session on that address is replaced")
        #expect(table.count == 1)
    }

    @Test func rebindOntoAnotherSessionsAddressReturnsIt() throws {
        var table = UDPSessionTable<String, Int>(capacity: 8, idleTimeout: .seconds(10))
        try table.insert(id: "x", address: a, session: 1, now: t0)
        try table.insert(id: "y", address: b, session: 2, now: t0)
        guard case .moved(let displaced) = table.rebind(id: "x", to: b) else {
            Issue.record("expected a move")
            return
        }
        #expect(displaced?.id == "y")
        #expect(table.count == 1 && table.session(forAddress: b, now: t0) == 1)
    }

    @Test func aFullTableKeepsTheSessionItWouldHaveDisplaced() throws {
        var table = UDPSessionTable<String, Int>(capacity: 1, idleTimeout: .seconds(10))
        try table.insert(id: "x", address: a, session: 1, now: t0)
        #expect(throws: UDPSessionTableError.duplicateID) { try table.insert(id: "x", address: b, session: 2, now: t0) }
        let displaced = try table.insert(id: "y", address: a, session: 2, now: t0)
        #expect(displaced?.id == "x", "same address: the new session replaces the old one even at capacity")
    }

    @Test func updateChangesStoredValue() throws {
        var table = UDPSessionTable<String, Int>(capacity: 8, idleTimeout: .seconds(10))
        try table.insert(id: "x", address: a, session: 1, now: t0)
        table.update(id: "x") { $0 += 41 }
        #expect(table.session(forID: "x", now: t0) == 42)
    }
}
