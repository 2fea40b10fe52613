import Foundation

/// Headless chromium (Debian's `chromium`, which scripts/install-deps --test installs) running
/// one test page of Tests/Peers/webrtc (whip_publish.html, whep_play.html): a real browser as a
/// WHIP publisher or WHEP player, with the fake camera and microphone.
///
/// Each run gets a fresh profile directory (removed by `stop`). The page reports progress as
/// console lines starting with its tag ("WHIP ", "WHEP "), which chromium prints on stderr
/// (`--enable-logging=stderr`); readiness is read from those lines. Chromium never exits by
/// itself: `stop` (or deinit) ends it.
public final class ChromiumPeer: Sendable {
    public let process: PeerProcess
    /// The console-line prefix of the page ("WHIP" or "WHEP").
    public let tag: String
    private let profile: URL

    /// Opens `page` (an http URL) in a new headless chromium.
    public static func start(_ page: String, tag: String) throws -> ChromiumPeer {
        let profile = FileManager.default.temporaryDirectory.appendingPathComponent("streamproxy-chromium-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: profile, withIntermediateDirectories: true)
        var arguments = [
            "--headless", "--disable-gpu", "--user-data-dir=\(profile.path)", "--no-first-run", "--no-default-browser-check",
            "--disable-extensions", "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            "--autoplay-policy=no-user-gesture-required",
            // 127.0.0.1 host candidates (else only the machine's other addresses), as addresses, not mDNS names.
            "--allow-loopback-in-peer-connection", "--disable-features=WebRtcHideLocalIpsWithMdns",
            "--enable-logging=stderr", "--v=0",
        ]
        // Chromium refuses to run as root with its sandbox.
        if geteuid() == 0 { arguments.append("--no-sandbox") }
        do {
            let process = try PeerProcess("chromium", arguments + [page])
            // A failure report shows the page's console whole, apart from chromium's own lines.
            _ = PeerDiagnostics.register("chromium's page console (\(tag))", lines: 60) { [weak process] in
                process.map { consoleLines(in: $0.output, tag: tag).joined(separator: "\n") } ?? ""
            }
            return ChromiumPeer(process: process, tag: tag, profile: profile)
        } catch {
            try? FileManager.default.removeItem(at: profile)
            throw error
        }
    }

    private init(process: PeerProcess, tag: String, profile: URL) {
        self.process = process
        self.tag = tag
        self.profile = profile
    }

    /// The page's console lines so far, without the tag ("state connected", "done", ...).
    public var lines: [String] { Self.consoleLines(in: process.output, tag: tag) }

    /// The console lines of the page tagged `tag` in chromium's output.
    static func consoleLines(in output: String, tag: String) -> [String] {
        // [1202/043000.123456:INFO:CONSOLE(12)] "WHIP state connected", source: http://... (12)
        let prefix = "\"\(tag) "
        return output.split(separator: "\n").compactMap { line -> String? in
            guard line.contains(":CONSOLE"), let start = line.range(of: prefix) else { return nil }
            let rest = line[start.upperBound...]
            let end = rest.range(of: "\", source:")?.lowerBound ?? rest.endIndex
            return String(rest[..<end])
        }
    }

    /// The first console line starting with `prefix` ("answer candidates ", "pair "), without it.
    public func line(_ prefix: String) -> String? {
        lines.first { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }
    }

    /// Waits for a console line starting with `prefix`; throws at once on the page's "error"
    /// line or chromium's exit, and after `timeout`.
    @discardableResult
    public func wait(for prefix: String, timeout: Duration) async throws -> String {
        do {
            return try await Wait.until("\(tag) \(prefix) from chromium", timeout: timeout, interval: .milliseconds(100)) { () throws -> String? in
                let lines = self.lines
                if let found = lines.first(where: { $0.hasPrefix(prefix) }) { return String(found.dropFirst(prefix.count)) }
                if let error = lines.first(where: { $0.hasPrefix("error") }) { throw TestFailure("the page failed: \(tag) \(error)") }
                if !self.process.isRunning { throw TestFailure("chromium exited") }
                return nil
            }
        } catch let failure as TestFailure {
            throw TestFailure("\(failure); console: \(lines)\nchromium's output (end):\n\(process.output.suffix(3000))")
        }
    }

    /// Ends chromium (SIGTERM: it shuts its renderer and utility processes down; SIGKILL if it
    /// does not within 5 s) and removes its profile.
    public func stop() async {
        process.stop(SIGTERM)
        if (try? await Wait.until("chromium to exit", timeout: .seconds(5)) { self.process.isRunning ? nil : true }) == nil {
            process.stop(SIGKILL)
            _ = try? await Wait.until("chromium to exit", timeout: .seconds(5)) { self.process.isRunning ? nil : true }
        }
        try? FileManager.default.removeItem(at: profile)
    }

    deinit {
        process.stop(SIGKILL)
        try? FileManager.default.removeItem(at: profile)
    }
}
