import ProxyCore
import ProxyTesting
import Testing

/// The shared EventQueue conformance checks (ProxyTesting.EventQueueConformance) on
/// MemoryRegistry's queue, with a hand-moved clock; RedisRegistry runs the same list.
@Suite struct EventQueueConformanceTests {
    @Test(arguments: EventQueueConformance.checks)
    func memoryRegistry(_ check: EventQueueConformance.Check) async throws {
        let clock = TestClock()
        let registry = MemoryRegistry(now: clock.source)
        try await check.run(EventQueueSubject(queue: registry, pass: { clock.advance($0) }))
    }
}
