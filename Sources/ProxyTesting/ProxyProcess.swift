import Foundation
import Synchronization

/// The built `stream-proxy` binary running as a child process with a config the test writes.
/// It binds port 0 where the test asks; the real addresses are read from its `listening` log lines.
public final class ProxyProcess: Sendable {
    public let process: Process
    public let directory: URL
    private let output = OutputBuffer()

    final class OutputBuffer: Sendable {
        let text = Mutex<String>("")
        /// The pipe reported end of file: every line the process wrote is in `text`.
        let ended = Atomic<Bool>(false)
    }

    /// Starts the proxy with `config` (proxy.yaml text) and extra environment, and waits until
    /// the system API is listening (or the process exits, or `timeout` passes).
    /// - Parameter healthChecks: true keeps `registry.health_check` on (the product's default), for
    ///   the suites about checks, drain and placement. Off otherwise: many tests use one-shot or
    ///   counting origins (ffmpeg `-listen 1` serves one client; a raw socket counts datagrams),
    ///   and a proxy of one test would probe ports that another test's one-shot origin may take.
    public static func start(
        config: String, environment: [String: String] = [:], arguments: [String] = [], timeout: Duration = .seconds(20),
        healthChecks: Bool = false
    ) async throws -> ProxyProcess {
        let p = try ProxyProcess(config: healthChecks ? config : withoutHealthChecks(config), environment: environment, arguments: arguments)
        _ = try await p.waitForListener("system-api", timeout: timeout)
        return p
    }

    /// `config` with `registry.health_check.enabled: false` added to its `registry:` section (flow
    /// or block style), or a section of its own.
    static func withoutHealthChecks(_ config: String) -> String {
        var lines = config.components(separatedBy: "\n")
        guard let i = lines.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces).hasPrefix("registry:") && !$0.hasPrefix(" ") }) else {
            return config + "\nregistry: { health_check: { enabled: false } }\n"
        }
        if let brace = lines[i].firstIndex(of: "{") {
            lines[i].insert(contentsOf: " health_check: { enabled: false },", at: lines[i].index(after: brace))
        } else {
            lines.insert("  health_check: { enabled: false }", at: i + 1)
        }
        return lines.joined(separator: "\n")
    }

    private init(config: String, environment: [String: String], arguments: [String]) throws {
        directory = try PackagePaths.temporaryDirectory()
        let configURL = directory.appendingPathComponent("proxy.yaml")
        try config.write(to: configURL, atomically: true, encoding: .utf8)
        process = Process()
        process.executableURL = try PackagePaths.proxyBinary
        process.arguments = ["--config", configURL.path] + arguments
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("PROXY_") }
        env.merge(environment) { _, new in new }
        process.environment = env
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        let output = self.output
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            guard !data.isEmpty else {
                handle.readabilityHandler = nil
                output.ended.store(true, ordering: .releasing)
                return
            }
            output.text.withLock { $0 += String(decoding: data, as: UTF8.self) }
        }
        try process.runWithDefaultSignalMask()
        _ = PeerDiagnostics.register("stream-proxy (pid \(process.processIdentifier))", lines: 40) { output.text.withLock { $0 } }
    }

    /// The configuration file the proxy was started with (a reload test rewrites it).
    public var configFile: URL { directory.appendingPathComponent("proxy.yaml") }

    /// Writes `config` over the configuration file (atomically, as an editor or a ConfigMap update does).
    public func rewriteConfig(_ config: String) throws {
        try config.write(to: configFile, atomically: true, encoding: .utf8)
    }

    /// Sends `signal` without waiting (SIGHUP: reload).
    public func send(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Everything the process printed so far. Lines reach it through a pipe, a moment after the
    /// proxy wrote them (after the answer a client saw): use `logContains` for a line that an
    /// action just caused, or read `log` after `stop()`, which waits for the last line.
    public var log: String { output.text.withLock { $0 } }

    /// True once the log holds every one of `texts` (within `timeout`).
    public func logContains(_ texts: String..., within timeout: Duration = .seconds(5)) async -> Bool {
        (try? await Wait.until("the proxy to log \(texts)", timeout: timeout, interval: .milliseconds(20)) { () -> Bool? in
            let log = self.log
            return texts.allSatisfy(log.contains) ? true : nil
        }) ?? false
    }

    /// The log lines holding every one of `texts`, each as its `key=value` metadata fields.
    public func logEntries(_ texts: String...) -> [[String: String]] {
        log.split(separator: "\n").filter { line in texts.allSatisfy { line.contains($0) } }.map(Self.fields)
    }

    /// The `key=value` words of a log line (swift-log's metadata; values hold no spaces), or the
    /// top-level string fields of a JSON line (`log.format: json`).
    static func fields(_ line: Substring) -> [String: String] {
        if line.first == "{", let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] {
            return object.compactMapValues { $0 as? String }
        }
        var fields: [String: String] = [:]
        for word in line.split(separator: " ") {
            guard let equals = word.firstIndex(of: "="), equals != word.startIndex else { continue }
            fields[String(word[..<equals])] = String(word[word.index(after: equals)...])
        }
        return fields
    }

    /// The `host:port` a named listener bound, from its `listening` log line.
    public func waitForListener(_ name: String, timeout: Duration = .seconds(20)) async throws -> String {
        try await Wait.until("\(name) listening", timeout: timeout) { () throws -> String? in
            if let address = Self.listenerAddress(name, in: self.log) { return address }
            if !self.process.isRunning {
                throw TestFailure("stream-proxy exited with status \(self.process.terminationStatus) before \(name) listened:\n\(self.log)")
            }
            return nil
        }
    }

    /// The port of the system API.
    public var systemAPIPort: Int {
        get throws {
            guard let address = Self.listenerAddress("system-api", in: log), let port = Int(address.split(separator: ":").last ?? "") else {
                throw TestFailure("system-api address not in log:\n\(log)")
            }
            return port
        }
    }

    public var systemAPI: URL {
        get throws { URL(string: "http://127.0.0.1:\(try systemAPIPort)")! }
    }

    static func listenerAddress(_ name: String, in log: String) -> String? {
        for line in log.split(separator: "\n") where line.contains("listening") {
            if line.first == "{" {
                let f = fields(line)
                if f["listener"] == name, let address = f["address"] { return address }
                continue
            }
            guard line.contains("listener=\(name) ") else { continue }
            if let range = line.range(of: #"address=(\S+)"#, options: .regularExpression) {
                return String(line[range].dropFirst("address=".count))
            }
        }
        return nil
    }

    /// Sends `signal` and waits for the process to exit; returns its exit status.
    @discardableResult
    public func stop(signal: Int32 = SIGTERM, timeout: Duration = .seconds(40)) async throws -> Int32 {
        if process.isRunning { kill(process.processIdentifier, signal) }
        try await Wait.until("stream-proxy exit", timeout: timeout) { self.process.isRunning ? nil : true }
        // The last lines are still in the pipe when the process has gone: read them too.
        _ = try? await Wait.until("stream-proxy's output to end", timeout: .seconds(2), interval: .milliseconds(5)) {
            self.output.ended.load(ordering: .acquiring) ? true : nil
        }
        return process.terminationStatus
    }

    deinit {
        if process.isRunning { process.terminate() }
        try? FileManager.default.removeItem(at: directory)
    }
}

/// Runs the binary to completion (for --check-config and failing starts).
public enum ProxyCommand {
    public struct Result: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    public static func run(_ arguments: [String], environment: [String: String] = [:], timeout: Duration = .seconds(30)) async throws -> Result {
        let process = Process()
        process.executableURL = try PackagePaths.proxyBinary
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("PROXY_") }
        env.merge(environment) { _, new in new }
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.runWithDefaultSignalMask()
        try await Wait.until("stream-proxy \(arguments.joined(separator: " ")) to exit", timeout: timeout) {
            process.isRunning ? nil : true
        }
        return Result(
            status: process.terminationStatus,
            stdout: String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self),
            stderr: String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
    }
}
