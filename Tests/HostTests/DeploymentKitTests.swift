import Foundation
import ProxyTesting
import Testing
import Yams

@testable import Host

/// The deployment kit (Dockerfile, deploy/compose, deploy/kubernetes, deploy/systemd) checked
/// against the binary, since no container can be built here: every port a file exposes is one
/// its proxy.yaml listens on, every flag and variable it passes is one the binary takes
/// (`--check-config` with them passes), and every probe path answers on a running proxy.
@Suite(.peerDiagnostics) struct DeploymentKitTests {
    static let root = PackagePaths.root

    static func text(_ path: String) throws -> String { try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8) }

    /// `port/proto` of every listener a proxy.yaml opens: the system API, the commands API when
    /// enabled, and each enabled module's listeners (SRT's and WebRTC's `udp_listen` are UDP).
    static func listened(_ yaml: String) throws -> Set<String> {
        let config = try #require(try Yams.load(yaml: yaml) as? [String: Any])
        func port(_ value: Any?) -> Int? {
            if let n = value as? Int { return n }
            guard let s = value as? String, let last = s.split(separator: ":").last else { return nil }
            return Int(last)
        }
        var out = Set<String>()
        if let p = port((config["system_api"] as? [String: Any])?["listen"] ?? 12025) { out.insert("\(p)/tcp") }
        if let commands = config["commands_api"] as? [String: Any], commands["enabled"] as? Bool == true, let p = port(commands["listen"] ?? 12026) {
            out.insert("\(p)/tcp")
        }
        for (name, section) in config["modules"] as? [String: Any] ?? [:] {
            guard let m = section as? [String: Any], m["enabled"] as? Bool ?? (name != "webrtc") else { continue }
            if let p = port(m["listen"]) { out.insert("\(p)/\(name == "srt" ? "udp" : "tcp")") }
            if let p = port(m["api_listen"]) { out.insert("\(p)/tcp") }
            if let p = port(m["udp_listen"]) { out.insert("\(p)/udp") }
        }
        return out
    }

    /// Runs `--check-config` with a kit's arguments, its config path mapped to `config` (a
    /// temporary copy of the file it mounts), and its environment.
    static func checkConfig(_ arguments: [String], config: String, environment: [String: String] = [:]) async throws -> ProxyCommand.Result {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("kit-\(UUID().uuidString).yaml")
        try config.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        var args = arguments
        if let i = args.firstIndex(of: "--config"), i + 1 < args.count { args[i + 1] = file.path }
        if !args.contains("--check-config") { args.append("--check-config") }
        return try await ProxyCommand.run(args, environment: environment)
    }

    static func unknownVariables(_ names: some Sequence<String>) -> [String] {
        names.filter { !DerivedEnvironment.allVariables.contains($0) }.sorted()
    }

    @Test func theDockerfileExposesTheEmbeddedConfigsPortsAndItsCommandChecks() async throws {
        let dockerfile = try Self.text("Dockerfile")
        let shipped = try Self.text("proxy.yaml")
        #expect(dockerfile.contains("COPY proxy.yaml /etc/stream-proxy/proxy.yaml"), "the embedded config is the repository's")
        let exposed = Set(dockerfile.split(separator: "\n").filter { $0.hasPrefix("EXPOSE ") }.flatMap { $0.split(separator: " ").dropFirst().map(String.init) })
        let listeners = try Self.listened(shipped)
        #expect(exposed == listeners, "EXPOSE \(exposed.sorted()) vs listeners \(listeners.sorted())")
        let cmd = try #require(dockerfile.split(separator: "\n").first { $0.hasPrefix("CMD ") })
        let args = try #require(try JSONSerialization.jsonObject(with: Data(cmd.dropFirst(4).utf8)) as? [String])
        let r = try await Self.checkConfig(args, config: shipped)
        #expect(r.status == 0, "CMD \(args): \(r.stderr)")
        #expect(dockerfile.contains("libhiredis"), "the runtime image carries hiredis")
    }

    @Test func theComposeProxiesPassOnlyVariablesAndFlagsTheBinaryTakes() async throws {
        let compose = try #require(try Yams.load(yaml: try Self.text("deploy/compose/compose.yaml")) as? [String: Any])
        let services = try #require(compose["services"] as? [String: [String: Any]])
        let proxies = services.filter { $0.value["build"] != nil }
        #expect(proxies.count == 2 && services["redis"] != nil && services.keys.filter { $0.hasPrefix("origin") }.count == 2, "\(services.keys.sorted())")
        let config = try Self.text("deploy/compose/proxy.yaml")
        let listened = try Self.listened(config)
        for (name, service) in proxies {
            let environment = (service["environment"] as? [String: Any] ?? [:]).mapValues { "\($0)" }
            #expect(Self.unknownVariables(environment.keys).isEmpty, "\(name): \(Self.unknownVariables(environment.keys))")
            let command = try #require(service["command"] as? [String])
            let r = try await Self.checkConfig(command, config: config, environment: environment)
            #expect(r.status == 0, "\(name) \(command): \(r.stderr)")
            for mapping in service["ports"] as? [String] ?? [] {
                let inner = mapping.split(separator: ":").last.map(String.init) ?? ""
                let port = inner.contains("/") ? inner : inner + "/tcp"
                #expect(listened.contains(port), "\(name) publishes \(mapping): the config listens on \(listened.sorted())")
            }
        }
    }

    @Test func theKubernetesManifestsAgreeWithTheirConfigMapAndTheProbesAnswer() async throws {
        let configMap = try #require(try Yams.load(yaml: try Self.text("deploy/kubernetes/configmap.yaml")) as? [String: Any])
        let config = try #require((configMap["data"] as? [String: Any])?["proxy.yaml"] as? String)
        let deployment = try #require(try Yams.load(yaml: try Self.text("deploy/kubernetes/deployment.yaml")) as? [String: Any])
        let pod = try #require(((deployment["spec"] as? [String: Any])?["template"] as? [String: Any])?["spec"] as? [String: Any])
        let container = try #require((pod["containers"] as? [[String: Any]])?.first)

        // Ports: every containerPort is a listener of the ConfigMap's file; every Service targets one.
        let ports = container["ports"] as? [[String: Any]] ?? []
        let byName = Dictionary(uniqueKeysWithValues: ports.map { ($0["name"] as? String ?? "", "\($0["containerPort"] ?? "")/\(($0["protocol"] as? String ?? "TCP").lowercased())") })
        let listened = try Self.listened(config)
        #expect(Set(byName.values) == listened, "containerPorts \(byName) vs listeners \(listened.sorted())")
        let services = try Yams.load_all(yaml: try Self.text("deploy/kubernetes/services.yaml")).compactMap { $0 as? [String: Any] }
        #expect(services.count == 3)
        for service in services {
            for p in (service["spec"] as? [String: Any])?["ports"] as? [[String: Any]] ?? [] {
                let target = p["targetPort"] as? String ?? ""
                #expect(byName[target]?.hasSuffix("/" + (p["protocol"] as? String ?? "TCP").lowercased()) == true, "Service port \(p) targets a container port of its protocol")
            }
        }

        // Flags and variables pass --check-config.
        let args = try #require(container["args"] as? [String])
        let env = container["env"] as? [[String: Any]] ?? []
        let names = env.compactMap { $0["name"] as? String }
        #expect(Self.unknownVariables(names).isEmpty, "\(Self.unknownVariables(names))")
        let r = try await Self.checkConfig(args, config: config, environment: Dictionary(uniqueKeysWithValues: names.map { ($0, "x") }))
        #expect(r.status == 0, "\(args): \(r.stderr)")

        // The drain fits the grace period: preStop pause + quit.force.
        let parsed = try #require(try Yams.load(yaml: config) as? [String: Any])
        let force = ((parsed["quit"] as? [String: Any])?["force"] as? String).flatMap { Int($0.dropLast()) } ?? 30
        let preStop = ((((container["lifecycle"] as? [String: Any])?["preStop"] as? [String: Any])?["exec"] as? [String: Any])?["command"] as? [String]) ?? []
        let pause = Int(preStop.last ?? "") ?? 0
        #expect(pause > 0, "a preStop pause lets the Service drop the pod first: \(preStop)")
        #expect((pod["terminationGracePeriodSeconds"] as? Int ?? 30) >= pause + force, "the grace period covers preStop and quit.force")

        // Probes: the paths answer on a proxy running the ConfigMap's file (listeners moved to
        // test ports, the registry in memory): liveness 200 at once, readiness 503 without an
        // origin and 200 once one registered.
        let liveness = try #require(((container["livenessProbe"] as? [String: Any])?["httpGet"] as? [String: Any])?["path"] as? String)
        let readiness = try #require(((container["readinessProbe"] as? [String: Any])?["httpGet"] as? [String: Any])?["path"] as? String)
        let proxy = try await ProxyProcess.start(config: config, environment: [
            "PROXY_LOAD_BALANCER_TYPE": "memory", "PROXY_SYSTEM_API": "127.0.0.1:0", "PROXY_RTMP_SERVER": "127.0.0.1:0",
            "PROXY_HTTP_SERVER": "127.0.0.1:0", "PROXY_SRT_SERVER": "127.0.0.1:0",
        ])
        let api = try proxy.systemAPI
        #expect(try await HTTPTestClient.get(api.appendingPathComponent(liveness)).status == 200)
        #expect(try await HTTPTestClient.get(api.appendingPathComponent(readiness)).status == 503, "no origin yet")
        let registered = try await HTTPTestClient.post(
            api.appendingPathComponent("api/v1/srs/register"), json: #"{"ip":"127.0.0.1","server":"k","service":"s","pid":"1","rtmp":["1935"]}"#)
        #expect(registered.status == 200, "\(registered.text)")
        #expect(try await HTTPTestClient.get(api.appendingPathComponent(readiness)).status == 200)
        #expect(try await proxy.stop() == 0)
    }

    @Test func theSystemdUnitRunsACommandTheBinaryTakes() async throws {
        let unit = try Self.text("deploy/systemd/stream-proxy.service")
        for key in ["ExecStartPre=", "ExecStart="] {
            let line = try #require(unit.split(separator: "\n").first { $0.hasPrefix(key) }, "\(key) in the unit")
            let words = line.dropFirst(key.count).split(separator: " ").map(String.init)
            #expect(words.first == "/usr/local/bin/stream-proxy")
            let r = try await Self.checkConfig(Array(words.dropFirst()), config: try Self.text("proxy.yaml"))
            #expect(r.status == 0, "\(line): \(r.stderr)")
        }
        #expect(unit.contains("RestartPreventExitStatus=2"), "a configuration error is not restarted in a loop")
        #expect(unit.contains("ExecReload=/bin/kill -HUP $MAINPID"), "systemctl reload sends the reload signal")
        let stop = unit.split(separator: "\n").first { $0.hasPrefix("TimeoutStopSec=") }.flatMap { Int($0.split(separator: "=").last ?? "") } ?? 0
        #expect(stop > 30, "systemd waits past quit.force (30 s)")
    }

    /// The variables the binary reads are the ones docs/configuration.md lists: each is named in
    /// its environment section, and each row of its tables is one the binary reads.
    @Test func everyVariableTheBinaryReadsIsDocumented() throws {
        let docs = try Self.text("docs/configuration.md")
        let start = try #require(docs.range(of: "\n## Environment variables\n")).upperBound
        let end = docs.range(of: "\n## ", range: start..<docs.endIndex)?.lowerBound ?? docs.endIndex
        let section = docs[start..<end]
        let named = Set(section.matches(of: /`([A-Z][A-Z0-9_]+)`/).map { String($0.output.1) })
        let rows = Set(section.split(separator: "\n").compactMap { line in line.firstMatch(of: /^\| `([A-Z][A-Z0-9_]+)`/).map { String($0.output.1) } })
        let read = DerivedEnvironment.allVariables
        #expect(read.subtracting(named).isEmpty, "undocumented: \(read.subtracting(named).sorted())")
        #expect(rows.subtracting(read).isEmpty, "documented, not read: \(rows.subtracting(read).sorted())")
    }
}
