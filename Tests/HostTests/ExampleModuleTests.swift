import Foundation
import LineRelay
import Logging
import NIOCore
import ProxyCore
import ProxyNet
import ProxyTesting
import ServiceLifecycle
import Synchronization
import Testing

@testable import Host

/// The module guide's example (Examples/LineRelay, docs/adding-a-module.md) registered the way
/// the four built-in modules are: one catalog entry, its section decoded by the host's loader,
/// built by ProxyHost.buildModules and counted by the commands API under its own name, with no
/// table in Host that knows it.
@Suite(.timeLimit(.minutes(1)), .peerDiagnostics) struct ExampleModuleTests {
    static let yaml = """
        system_api: { listen: 127.0.0.1:0 }
        commands_api: { enabled: true, listen: 127.0.0.1:0, auth: { none: true } }
        modules:
          rtmp: { enabled: false }
          http-flv: { enabled: false }
          srt: { enabled: false }
          line-relay: { enabled: true, listen: 127.0.0.1:0, endpoint: rtmp, max_line: 256 }
        """

    @Test func theGuidesExampleRegistersThroughTheCatalogAndCountsUnderItsOwnName() async throws {
        var loader = ConfigLoader(file: "test.yaml", environment: [:])
        loader.catalog = ModuleCatalog.entries + [ModuleCatalog.entry(LineRelayModule.self)]
        let config = try loader.load(yaml: Self.yaml)
        #expect(config.modules.filter(\.enabled).map(\.name) == ["line-relay"])
        #expect(throws: ConfigError.self, "its section is decoded strictly, like any module's") {
            try loader.load(yaml: "modules:\n  line-relay: { enabled: true, max_line: 2 }")
        }

        let echo = try await TCPEcho.start()
        defer { echo.close(promise: nil) }
        let host = ProxyHost(config: config, logger: Logger(label: "test.host"))
        let routing = host.makeRouting()
        try await routing.registry.heartbeat(Backend(
            server: "echo", service: "s", pid: "1", ip: "127.0.0.1", endpoints: [.rtmp: [ListenEndpoint(port: echo.localAddress!.port!)]]))
        let bound = Mutex<[String: Int]>([:])
        let onListening: @Sendable (String, SocketAddress) -> Void = { name, address in bound.withLock { $0[name] = address.port } }
        let modules = try host.buildModules(routing, onListening: onListening)
        let commands = try host.commandsServices(routing, modules: modules, proxyID: "proxy-1", onListening: onListening)
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: [.init(service: RouterService(routers: routing.all))] + commands
                + [.init(service: ModuleGroup(modules: modules, logger: Logger(label: "test.modules")))],
            logger: Logger(label: "test.group")))

        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            defer { tasks.cancelAll() }
            let ports = try await Wait.until("line-relay and the commands API listening") { () -> (relay: Int, api: Int)? in
                bound.withLock { p in p["line-relay"].flatMap { relay in p["commands-api"].map { (relay, $0) } } }
            }
            let client = try await RawSocket(port: ports.relay)
            client.send(Array("PLAY live/demo\nhello".utf8))
            let echoed = await client.read(until: "hello", timeout: .seconds(5))
            #expect(echoed.found && echoed.received == "PLAY live/demo\nhello", "relayed to the backend and back: \(echoed.received)")

            let capacity = try await HTTPTestClient.get(URL(string: "http://127.0.0.1:\(ports.api)/commands/capacity")!)
            let figures = (capacity.json["modules"] as? [String: Any])?["line-relay"] as? [String: Any]
            #expect(figures?["sessions"] as? Int == 1, "its session counted under its own name: \(capacity.json)")
            let report = try await HTTPTestClient.get(URL(string: "http://127.0.0.1:\(ports.api)/commands/report")!)
            let perModule = (report.json["totals"] as? [String: Any])?["modules"] as? [String: Any]
            #expect(Set(perModule?.keys ?? [:].keys) == ["line-relay"], "and nowhere else: \(report.json)")

            client.disconnect()
            try await Wait.until("the session's end taken in") { await routing.all[0].sessionCount == 0 ? true : nil }
            await group.triggerGracefulShutdown()
            _ = try await tasks.next()
        }
    }
}
