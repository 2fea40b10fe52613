import Foundation
import Synchronization
import Testing

/// What a failing real-peer test needs to say: the last lines of every process it started (the
/// proxy's log, each peer's output, the browser page's console lines).
///
/// A test (or suite) with the `.peerDiagnostics` trait runs with a collector in a task local.
/// `ProxyProcess`, `PeerProcess` and `ChromiumPeer` add themselves to it when they start; the
/// first issue the test records (a failed `#expect`, a thrown `Wait.until` timeout, a peer that
/// exited) gets the report as a comment, so the failure message carries it.
public final class PeerDiagnostics: Sendable {
    @TaskLocal public static var current: PeerDiagnostics?

    /// One process's output, read when the report is made; its last text is kept once it ended.
    final class Source: Sendable {
        let name: String
        let lines: Int
        let read: Mutex<(@Sendable () -> String)?>
        let last = Mutex("")

        init(name: String, lines: Int, read: @escaping @Sendable () -> String) {
            self.name = name
            self.lines = lines
            self.read = Mutex(read)
        }

        var text: String {
            if let read = read.withLock({ $0 }) { return read() }
            return last.withLock { $0 }
        }
    }

    private let sources = Mutex<[Source]>([])
    private let reported = Atomic<Bool>(false)

    public init() {}

    /// A handle a process keeps to hand in its final output when it goes away.
    public struct Registration: Sendable {
        let source: Source?

        /// The process object is going away: keep `text` for a report made later in the test.
        public func retire(_ text: String) {
            guard let source else { return }
            source.last.withLock { $0 = text }
            source.read.withLock { $0 = nil }
        }
    }

    /// Adds a source to the current test's collector (none outside a `.peerDiagnostics` test).
    /// `read` must not keep the process object alive (capture it weakly).
    public static func register(_ name: String, lines: Int = 25, _ read: @escaping @Sendable () -> String) -> Registration {
        guard let current else { return Registration(source: nil) }
        let source = Source(name: name, lines: lines, read: read)
        current.sources.withLock { $0.append(source) }
        return Registration(source: source)
    }

    /// The last lines of every source, each under its name.
    public func report() -> String {
        let sources = self.sources.withLock { $0 }
        guard !sources.isEmpty else { return "" }
        return sources.map { source in
            let lines = source.text.split(separator: "\n")
            let tail = lines.suffix(source.lines).joined(separator: "\n")
            return "--- \(source.name): last \(min(lines.count, source.lines)) of \(lines.count) lines ---\n\(tail)"
        }.joined(separator: "\n")
    }

    /// The report for the first issue of the test; a pointer to it for the later ones.
    func comment() -> Comment {
        if reported.exchange(true, ordering: .relaxed) { return "(the peers' and the proxy's output: see the test's first issue)" }
        return Comment(rawValue: "peers and proxy when this failed:\n" + report())
    }
}

/// The trait that gives each test a `PeerDiagnostics` collector and adds its report to the
/// test's first issue. Put it on every suite that starts real processes.
public struct PeerDiagnosticsTrait: TestTrait, SuiteTrait, TestScoping {
    public var isRecursive: Bool { true }

    public func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        // Suites only pass through: each test (case) gets its own collector.
        guard !test.isSuite else { return try await function() }
        let diagnostics = PeerDiagnostics()
        let annotate = IssueHandlingTrait.compactMapIssues { issue in
            var issue = issue
            issue.comments.append(diagnostics.comment())
            return issue
        }
        do {
            try await PeerDiagnostics.$current.withValue(diagnostics) {
                try await annotate.provideScope(for: test, testCase: testCase, performing: function)
            }
        } catch {
            // The error the test throws is recorded after this scope, by its description alone:
            // the report goes into it.
            throw TestFailure("\(error)\n\(diagnostics.comment().rawValue)")
        }
    }
}

extension Trait where Self == PeerDiagnosticsTrait {
    /// Failures carry the last output of the proxy and of every peer the test started.
    public static var peerDiagnostics: Self { PeerDiagnosticsTrait() }
}
