import ProxyCore
import ProxyTesting
import Testing

/// The shared Registry conformance checks (ProxyTesting.RegistryConformance) on MemoryRegistry,
/// with a hand-moved clock; a shared registry runs the same list against its real store.
@Suite struct RegistryConformanceTests {
    @Test(arguments: RegistryConformance.checks)
    func memoryRegistry(_ check: RegistryConformance.Check) async throws {
        let clock = TestClock()
        let registry = MemoryRegistry(backendAlive: RegistryConformance.backendAlive, now: clock.source)
        try await check.run(RegistrySubject(registry: registry, pass: { clock.advance($0) }))
    }
}

/// The commands API's shared state (SessionCountConformance) on MemoryRegistry.
@Suite struct SessionCountConformanceTests {
    @Test(arguments: SessionCountConformance.checks)
    func memoryRegistry(_ check: SessionCountConformance.Check) async throws {
        let clock = TestClock()
        let registry = MemoryRegistry(now: clock.source)
        try await check.run(CommandsStoreSubject(store: registry, pass: { clock.advance($0) }))
    }
}
