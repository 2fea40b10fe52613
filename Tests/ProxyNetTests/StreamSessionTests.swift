import ProxyCore
import ProxyTesting
import Synchronization
import Testing

@testable import ProxyNet

/// The session life cycle every module uses, on every exit path: one lease at most, given back
/// however the session ends, and one start and one end event at most, the end only after a start.
/// (The modules' own tests run it with real peers; this is the invariant, once for all.)
@Suite struct StreamSessionTests {
    static let module = ModuleIdentity(name: "test-module", scheme: "test", dials: [.rtmp])

    /// A router over one registry with backends `a` (and `b`), each exposing rtmp.
    static func router(backends: [String] = ["a"]) async throws -> Router {
        let registry = MemoryRegistry()
        for (i, name) in backends.enumerated() {
            try await registry.heartbeat(Backend(
                server: name, service: "s", pid: "1", ip: "127.0.0.1", endpoints: [.rtmp: [ListenEndpoint(port: 19_000 + i)]]))
        }
        return Router(registry: registry, strategy: RoundRobinStrategy())
    }

    static func session(_ router: Router, hooks: any ProxyHooks, role: SessionRole = .publish, stream: String = "s") throws -> StreamSession {
        StreamSession(
            StreamRequest(key: try StreamKey(vhost: nil, app: "live", stream: stream), query: "k=1"), role: role, client: "127.0.0.1:5000",
            needs: .rtmp, context: StreamSession.Context(router: router, hooks: hooks, module: module))
    }

    @Test func aRelayedSessionHasOneLeaseAndOneStartEndPairWhateverEndsIt() async throws {
        let router = try await Self.router()
        let hooks = RecordingHooks()
        let session = try Self.session(router, hooks: hooks)
        let lease = try await session.open()
        let open = await router.sessionCount
        #expect(open == 1 && session.lease === lease && lease.module == "test-module")
        session.started()
        session.started()
        session.end(reason: "relay closed")
        session.end(reason: "client closed")
        session.endUnreachable(reason: "too late")
        #expect(hooks.calls == [.asked(.publishStart), .reported(.publishStart), .reported(.publishEnd)], "\(hooks.calls)")
        #expect(hooks.events.dropFirst().allSatisfy { $0.backend?.rawValue == "a-s-1" && $0.module == "test-module" && $0.scheme == "test" })
        #expect(session.endReason == "relay closed" && session.isEnded && session.lease == nil)
        #expect(await router.sessionCount == 0, "the lease went back with the first end")
        session.started()
        #expect(hooks.calls.count == 3, "no start after the end")
    }

    @Test func aPlayerIsNotAskedAndASessionThatNeverStartedReportsNoEnd() async throws {
        let router = try await Self.router()
        let hooks = RecordingHooks(refuse: "players are not asked")
        let session = try Self.session(router, hooks: hooks, role: .play)
        try await session.open()
        session.end(reason: "the backend refused the stream")
        #expect(hooks.calls.isEmpty, "\(hooks.calls)")
        #expect(await router.sessionCount == 0)
    }

    @Test func aRefusedPublishHoldsNothing() async throws {
        let router = try await Self.router()
        let hooks = RecordingHooks(refuse: "bad key")
        let session = try Self.session(router, hooks: hooks)
        await #expect {
            try await session.open()
        } throws: { error in
            if case .denied("bad key")? = error as? StreamSession.Refusal { return true }
            return false
        }
        #expect(session.isEnded && hooks.calls == [.asked(.publishStart)])
        let (count, routes) = (await router.sessionCount, await router.localRoutes())
        #expect(count == 0 && routes.isEmpty, "never routed")
    }

    @Test func noBackendIsARoutingRefusal() async throws {
        let router = try await Self.router(backends: [])
        let session = try Self.session(router, hooks: RecordingHooks(), role: .play)
        await #expect {
            try await session.open()
        } throws: { error in
            if case .routing(.noBackend(_))? = error as? StreamSession.Refusal { return true }
            return false
        }
        #expect(session.isEnded)
    }

    /// A publish hook that answers only when told to.
    final class HeldHook: ProxyHooks {
        let asked = Mutex(false)
        let answer = Mutex<CheckedContinuation<HookDecision, Never>?>(nil)
        func authorizePublish(_ event: StreamEvent) async -> HookDecision {
            await withCheckedContinuation { continuation in
                answer.withLock { $0 = continuation }
                asked.withLock { $0 = true }
            }
        }
        func report(_ event: StreamEvent) {}
        func allow() { answer.withLock { $0?.resume(returning: .allow) } }
    }

    @Test func aClientThatLeavesWhileTheHookIsAskedGetsNoLease() async throws {
        let router = try await Self.router()
        let hook = HeldHook()
        let session = try Self.session(router, hooks: hook)
        let opened = Task { try await session.open() }
        try await ProxyTesting.Wait.until("the hook asked") { hook.asked.withLock { $0 } ? true : nil }
        session.end(reason: "client closed")
        hook.allow()
        await #expect(throws: StreamSession.Refusal.self) { try await opened.value }
        let (count, routes) = (await router.sessionCount, await router.localRoutes())
        #expect(count == 0 && routes.isEmpty, "not routed after the client left")
    }

    @Test func aClientThatLeavesWhileTheBackendIsDialledGivesTheLeaseBackAndReportsNothing() async throws {
        let router = try await Self.router()
        let hooks = RecordingHooks()
        let session = try Self.session(router, hooks: hooks)
        let lease = try await session.open()
        // The module dials lease.address now; the client leaves before the backend answers.
        session.end(reason: "client left while the backend was reached")
        // The dial completes: the module finds the session ended and starts nothing.
        session.started()
        #expect(hooks.calls == [.asked(.publishStart)], "neither start nor end: \(hooks.calls)")
        #expect(await router.sessionCount == 0)
        let route = try await router.registry.route(for: lease.key)
        #expect(route?.backendID.rawValue == "a-s-1", "a normal end: the route lingers")
    }

    @Test func aSessionEndedAfterTheRouterAnsweredButBeforeItsLeaseWasTakenGivesItBack() async throws {
        // The client leaves in the instant between the router's answer and the session taking the
        // lease: a hook-less play whose routing is slowed by many sessions ending at once.
        let router = try await Self.router()
        for i in 0..<50 {
            let session = try Self.session(router, hooks: NoHooks(), role: .play, stream: "s\(i)")
            async let opened: RouteLease = session.open()
            session.end(reason: "client closed")
            _ = try? await opened
        }
        #expect(await router.sessionCount == 0, "every lease went back, whichever side of the answer the end fell on")
    }

    @Test func anUnreachableBackendFailsTheRouteOverToAnother() async throws {
        let router = try await Self.router(backends: ["a", "b"])
        let first = try Self.session(router, hooks: RecordingHooks())
        let lease = try await first.open()
        first.endUnreachable(reason: "connection refused")
        await router.drainEndings()
        #expect(try await router.registry.route(for: lease.key) == nil, "the route is released")
        let second = try Self.session(router, hooks: RecordingHooks())
        let next = try await second.open()
        #expect(next.backend.id != lease.backend.id, "the next session goes to the other backend")
        second.end(reason: "done")
    }

    /// Redispatch: the same session, routed again, never to a backend it tried, at most
    /// `redispatchAttempts` times; then it ends unreachable. One lease at a time throughout.
    @Test func aRedispatchedSessionTriesEachBackendOnceAndHoldsOneLease() async throws {
        let router = try await Self.router(backends: ["a", "b", "c"])
        let hooks = RecordingHooks()
        let session = try Self.session(router, hooks: hooks)
        let first = try await session.open()
        let second = try await session.redispatch(reason: "refused")
        #expect(await router.sessionCount == 1, "the first lease went back")
        let third = try await session.redispatch(reason: "refused")
        #expect(Set([first.backend.id, second.backend.id, third.backend.id]).count == 3, "each attempt on another backend")
        #expect(session.lease === third)
        #expect(await router.sessionCount == 1)
        #expect(await router.redispatches == 2)
        await #expect(throws: StreamSession.Refusal.self, "the default allows two redispatches") {
            try await session.redispatch(reason: "refused again")
        }
        #expect(session.isEnded && session.lease == nil)
        #expect(await router.sessionCount == 0)
        #expect(hooks.calls == [.asked(.publishStart)], "asked once, never started: nothing reported")
    }

    @Test func aRedispatchWithNoOtherBackendEndsTheSession() async throws {
        let router = try await Self.router(backends: ["a"])
        let session = try Self.session(router, hooks: RecordingHooks())
        let lease = try await session.open()
        await #expect(throws: StreamSession.Refusal.self) { try await session.redispatch(reason: "refused") }
        #expect(session.isEnded)
        #expect(await router.sessionCount == 0)
        await router.drainEndings()
        #expect(try await router.registry.route(for: lease.key) == nil, "the route is released")
        #expect(await router.redispatches == 0)
    }

    @Test func aStartedSessionIsNotRedispatched() async throws {
        let router = try await Self.router(backends: ["a", "b"])
        let session = try Self.session(router, hooks: RecordingHooks())
        try await session.open()
        session.started()
        await #expect(throws: StreamSession.Refusal.self) { try await session.redispatch(reason: "late") }
        #expect(session.lease != nil, "the relayed session keeps its lease; the module ends it")
        session.end(reason: "done")
    }

    @Test func aCloseRequestReachesTheHandlerOnceWhenSetBeforeOrAfterTheLease() async throws {
        let router = try await Self.router()
        let closes = Mutex<[String]>([])
        let early = try Self.session(router, hooks: RecordingHooks(), role: .play)
        early.onClose { reason in closes.withLock { $0.append("early: \(reason)") } }
        try await early.open()
        let late = try Self.session(router, hooks: RecordingHooks(), role: .play)
        try await late.open()
        late.onClose { reason in closes.withLock { $0.append("late: \(reason)") } }
        #expect(await router.close(early.request.key, reason: "operator") == 2)
        #expect(await router.close(early.request.key, reason: "again") == 2, "still open: the modules end them")
        #expect(closes.withLock { $0 }.sorted() == ["early: operator", "late: operator"])
        early.end(reason: "closed")
        late.end(reason: "closed")
        #expect(await router.sessionCount == 0)
    }

    @Test func anAttachedSessionLeasesItsBackendWithoutHookOrRouting() async throws {
        let router = try await Self.router(backends: ["a", "b"])
        let hooks = RecordingHooks(refuse: "not asked")
        let backend = try #require(try await router.registry.aliveBackends().first { $0.server == "b" })
        let session = try Self.session(router, hooks: hooks)
        let lease = try await session.attach(to: backend)
        #expect(lease.backend.id == backend.id && lease.role == .publish)
        session.started()
        session.end(reason: "idle")
        #expect(hooks.calls == [.reported(.publishStart), .reported(.publishEnd)], "\(hooks.calls)")
        #expect(await router.sessionCount == 0)
    }
}
