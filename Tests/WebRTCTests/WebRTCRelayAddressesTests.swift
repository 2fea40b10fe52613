import Foundation
import ProxyCore
import ProxyTesting
import Testing

@testable import WebRTC

/// One client checking from several addresses with one USERNAME (as a browser does, pairing each
/// local candidate with the proxy's one candidate), through the running module with plain UDP
/// sockets: a fake backend socket, and clients on 127.0.0.1 and 127.0.0.2. The session is
/// found through the registry (signalled "elsewhere"), so no HTTP is involved.
@Suite(.serialized, .timeLimit(.minutes(1))) struct WebRTCRelayAddressesTests {
    static let username = "bk01:cl01"

    static func transaction(_ n: UInt8) -> [UInt8] { Array(repeating: n, count: 12) }
    /// A Binding success response to the request with transaction `n`.
    static func response(_ n: UInt8) -> [UInt8] { [0x01, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42] + transaction(n) }
    /// An SRTP-looking datagram numbered `n`.
    static func media(_ n: UInt8) -> [UInt8] { [0x80, 0x60, 0x00, n] + Array(repeating: n, count: 60) }

    /// A registry holding a backend whose "rtc" socket is `backend`, and the session's record.
    static func registry(backend: RawUDPSocket) async throws -> MemoryRegistry {
        let registry = MemoryRegistry()
        let server = Backend(server: "o", service: "fake", pid: "1", ip: "127.0.0.1", endpoints: [
            .api: [ListenEndpoint(port: 9)], .rtc: [ListenEndpoint(transport: .udp, host: "127.0.0.1", port: backend.localPort)],
        ])
        try await registry.heartbeat(server)
        let record = WebRTCSessionRecord(
            backend: server.id.rawValue, ip: "127.0.0.1", port: backend.localPort, stream: try StreamKey(vhost: nil, app: "live", stream: "m"),
            query: "", role: .publish, resource: nil)
        try await registry.putRecord(record.json, namespace: WebRTCSessionRecord.namespace, id: username, ttl: .seconds(60))
        return registry
    }

    /// What the backend receives next (within 2 s), or nil.
    static func atBackend(_ backend: RawUDPSocket) async -> [UInt8]? { await backend.receiveAndAnswerSender(timeout: .seconds(2))?.bytes }

    @Test func eachAddressIsRelayedAndBindingResponsesGoBackWhereTheirRequestCameFrom() async throws {
        let backend = try RawUDPSocket(port: 9, from: "127.0.0.1")
        let registry = try await Self.registry(backend: backend)
        try await RunningWebRTCModule.with(registry: registry) { m in
            let a = try RawUDPSocket(port: m.udp, from: "127.0.0.1"), b = try RawUDPSocket(port: m.udp, from: "127.0.0.2")
            a.send(STUNMessage.bindingRequest(username: Self.username, transactionID: Self.transaction(1)))
            let first = try #require(await backend.receiveAndAnswerSender(timeout: .seconds(5)), "the first check reaches the backend")
            b.send(STUNMessage.bindingRequest(username: Self.username, transactionID: Self.transaction(2)))
            let second = try #require(await backend.receiveAndAnswerSender(timeout: .seconds(2)), "the check from the second address too")
            #expect(first.from == second.from, "both through the session's one backend socket")
            #expect(first.bytes[8..<20].elementsEqual(Self.transaction(1)) && second.bytes[8..<20].elementsEqual(Self.transaction(2)))

            // The responses go back to each request's address, whatever the order.
            backend.send(Self.response(2))
            #expect(await b.receive(timeout: .seconds(2)) == Self.response(2), "B's response reaches B")
            backend.send(Self.response(1))
            #expect(await a.receive(timeout: .seconds(2)) == Self.response(1), "A's response reaches A")

            // Media towards the client goes to the active address: the first one, A.
            backend.send(Self.media(1))
            #expect(await a.receive(timeout: .seconds(2)) == Self.media(1))
            // Media from B is relayed and makes B active (the client's selected pair carries media).
            b.send(Self.media(2))
            #expect(await Self.atBackend(backend) == Self.media(2))
            backend.send(Self.media(3))
            #expect(await b.receive(timeout: .seconds(2)) == Self.media(3))
            // A stays bound: its datagrams still reach the backend (not dropped as an unknown address).
            a.send(STUNMessage.bindingRequest(username: Self.username, transactionID: Self.transaction(4)))
            #expect(await Self.atBackend(backend)?[8..<20].elementsEqual(Self.transaction(4)) == true)
            backend.send(Self.response(4))
            #expect(await a.receive(timeout: .seconds(2)) == Self.response(4), "a check from the inactive address is answered there")
            backend.send(Self.media(5))
            #expect(await b.receive(timeout: .seconds(2)) == Self.media(5), "a plain check does not move the media")
            // A nominates (USE-CANDIDATE): A is active again.
            a.send(STUNMessage.bindingRequest(username: Self.username, transactionID: Self.transaction(6), nominate: true))
            #expect(await Self.atBackend(backend) != nil)
            backend.send(Self.media(7))
            #expect(await a.receive(timeout: .seconds(2)) == Self.media(7), "the nominated address gets the media")
            #expect(await b.receive(timeout: .milliseconds(200)) == nil, "and B nothing of it")
        }
    }

    @Test func addressesPastTheCapUnbindTheOldestOtherOne() async throws {
        let backend = try RawUDPSocket(port: 9, from: "127.0.0.1")
        let registry = try await Self.registry(backend: backend)
        try await RunningWebRTCModule.with(registry: registry) { m in
            // The active address and 8 more: one past WebRTCRelay.Settings.maxClientAddresses (8).
            let clients = try (1...9).map { try RawUDPSocket(port: m.udp, from: "127.0.0.\($0)") }
            for (i, client) in clients.enumerated() {
                client.send(STUNMessage.bindingRequest(username: Self.username, transactionID: Self.transaction(UInt8(i + 1))))
                #expect(await backend.receiveAndAnswerSender(timeout: .seconds(5)) != nil, "check \(i + 1) relayed")
            }
            clients[1].send(Self.media(1))
            #expect(await backend.receiveAndAnswerSender(timeout: .milliseconds(300)) == nil, "the oldest other address (127.0.0.2) is unbound")
            for (i, client) in clients.enumerated() where i != 1 {
                client.send(Self.media(UInt8(i + 10)))
                #expect(await Self.atBackend(backend) == Self.media(UInt8(i + 10)), "127.0.0.\(i + 1) is still bound")
            }
        }
    }

    /// The consent rule: an address another client spoofs (127.0.0.5) is bound and its datagrams
    /// reach the backend, but nothing is sent to it until the backend answers a check from it; a
    /// session whose first address has no answer yet is sent nothing at all.
    @Test func aSpoofedAddressGetsNoMediaUntilTheBackendAcceptsACheckFromIt() async throws {
        let backend = try RawUDPSocket(port: 9, from: "127.0.0.1")
        let registry = try await Self.registry(backend: backend)
        try await RunningWebRTCModule.with(registry: registry) { m in
            let client = try RawUDPSocket(port: m.udp, from: "127.0.0.1"), victim = try RawUDPSocket(port: m.udp, from: "127.0.0.5")
            client.send(STUNMessage.bindingRequest(username: Self.username, transactionID: Self.transaction(1)))
            #expect(await backend.receiveAndAnswerSender(timeout: .seconds(5)) != nil, "the first check reaches the backend")
            backend.send(Self.media(1))
            #expect(await client.receive(timeout: .milliseconds(300)) == nil, "nothing to the first address before its consent")
            backend.send(Self.response(1))
            #expect(await client.receive(timeout: .seconds(2)) == Self.response(1), "its check's answer reaches it")
            backend.send(Self.media(2))
            #expect(await client.receive(timeout: .seconds(2)) == Self.media(2), "with consent, media follows")

            // The attack: a nomination and media "from" the victim, with the session's USERNAME.
            victim.send(STUNMessage.bindingRequest(username: Self.username, transactionID: Self.transaction(3), nominate: true))
            #expect(await Self.atBackend(backend) != nil, "the spoofed check is relayed to the backend, which does not accept it")
            victim.send(Self.media(4))
            #expect(await Self.atBackend(backend) == Self.media(4))
            for n: UInt8 in 5...7 { backend.send(Self.media(n)) }
            #expect(await victim.receive(timeout: .milliseconds(500)) == nil, "no media reaches the spoofed address")
            #expect(await client.receive(timeout: .seconds(2)) == Self.media(5), "the client keeps its media")

            // A real move: the backend accepts the nominated address's check, and the media follows it.
            backend.send(Self.response(3))
            #expect(await victim.receive(timeout: .seconds(2)) == Self.response(3))
            backend.send(Self.media(8))
            #expect(await victim.receive(timeout: .seconds(2)) == Self.media(8), "an address whose check the backend accepted gets the media")
        }
    }
}
