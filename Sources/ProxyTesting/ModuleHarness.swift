import Logging
import NIOCore
import NIOPosix
import ProxyCore
import ProxyNet
import ServiceLifecycle
import Synchronization

/// One protocol module running on its own for a test, as the host runs it: built with a
/// ModuleContext on the test's router (its listeners bound where its config says: port 0), with
/// its background work and the router's loop beside it, inside a ServiceGroup. `body` gets the
/// bound addresses and the module; then the module is told to shut down gracefully and the call
/// returns only once it stopped (escalating to cancellation after `shutdownLimit`), so nothing
/// the module started outlives the test.
public enum ModuleHarness {
    /// The addresses the module bound, by listener name (`rtmp`, `webrtc-api`, `webrtc-udp`...).
    public struct Listeners: Sendable {
        public let addresses: [String: SocketAddress]

        /// The port of `listener`, or of the only listener.
        public func port(_ listener: String? = nil) -> Int {
            (listener.flatMap { addresses[$0] } ?? addresses.values.first)?.port ?? 0
        }
    }

    /// Runs `M` with `config` on `router` while `body` runs. `listeners` names the listeners to
    /// wait for before `body` starts (default: one named after the module).
    public static func run<M: ProxyModule, T: Sendable>(
        _: M.Type, config: M.Config, router: Router, hooks: any ProxyHooks = NoHooks(), listeners: [String] = [M.name],
        shutdownLimit: Duration = .seconds(10), _ body: @Sendable (Listeners, M) async throws -> T
    ) async throws -> T {
        let background = BackgroundWork()
        let bound = Mutex<[String: SocketAddress]>([:])
        let module = try M(config: config, context: ModuleContext(
            router: router, eventLoopGroup: MultiThreadedEventLoopGroup.singleton, logger: Logger(label: "test.\(M.name)"), hooks: hooks,
            background: background, onListening: { name, address in bound.withLock { $0[name] = address } }))
        var configuration = ServiceGroupConfiguration(
            services: [.init(service: Harnessed(module: module, background: background, router: router))], logger: Logger(label: "test.harness"))
        configuration.maximumGracefulShutdownDuration = shutdownLimit
        let group = ServiceGroup(configuration: configuration)
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let result: Result<T, any Error>
            do {
                let found = try await Wait.until("\(M.name)'s listeners \(listeners)", timeout: .seconds(20)) { () -> Listeners? in
                    let addresses = bound.withLock { $0 }
                    return listeners.allSatisfy { addresses[$0] != nil } ? Listeners(addresses: addresses) : nil
                }
                result = .success(try await body(found, module))
            } catch {
                result = .failure(error)
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return try result.get()
        }
    }

    /// The module with what the host runs beside it: its background work (finished once the
    /// module stopped) and its router's loop (stopped last, taking in the last session ends).
    private struct Harnessed<M: ProxyModule>: Service {
        let module: M
        let background: BackgroundWork
        let router: Router

        func run() async throws {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await router.run() }
                group.addTask { await background.run() }
                do {
                    try await module.run()
                } catch {
                    background.finish()
                    group.cancelAll()
                    throw error
                }
                background.finish()
                _ = try await group.next()  // the background work (the router runs until cancelled)
                group.cancelAll()
            }
        }
    }
}
