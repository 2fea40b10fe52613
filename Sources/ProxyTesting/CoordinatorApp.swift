import Foundation

/// Tests/Peers/coordinator_app.py: an application written to the streaming coordinator's HTTP
/// contract (key verification at /verify, event callbacks at /events, every request it saw at
/// /log), on a free port of 127.0.0.1.
public final class CoordinatorApp: Sendable {
    /// One request the application received.
    public struct Request: Sendable {
        public var path: String
        /// Lower-cased names.
        public var headers: [String: String]
        public var bodyLength: Int
        /// What the application answered.
        public var status: Int
    }

    public let port: Int
    public let process: PeerProcess
    public var verifyURL: String { "http://127.0.0.1:\(port)/verify" }
    public var eventsURL: String { "http://127.0.0.1:\(port)/events" }

    /// `keys`: channel -> key pairs /verify accepts; `failEvents`: event calls answered 500 first;
    /// `holdClosed`: every stream-closed answered 500 until `takeClosed()`.
    public static func start(keys: [String: String], failEvents: Int = 0, holdClosed: Bool = false) async throws -> CoordinatorApp {
        let script = PackagePaths.root.appendingPathComponent("Tests/Peers/coordinator_app.py").path
        let process = try PeerProcess(
            "python3", [script, "--fail-events", String(failEvents)] + (holdClosed ? ["--hold-closed"] : [])
                + keys.sorted { $0.key < $1.key }.flatMap { ["--key", "\($0)=\($1)"] })
        let port = try await Wait.until("coordinator_app's ready line", timeout: .seconds(20)) { () throws -> Int? in
            if let range = process.output.range(of: #"listening (\d+)"#, options: .regularExpression) {
                return Int(process.output[range].split(separator: " ").last ?? "")
            }
            if !process.isRunning { throw TestFailure("coordinator_app.py exited:\n\(process.output)") }
            return nil
        }
        return CoordinatorApp(port: port, process: process)
    }

    private init(port: Int, process: PeerProcess) {
        self.port = port
        self.process = process
    }

    /// Every request so far, in arrival order.
    public func requests() async throws -> [Request] {
        let answer = try await HTTPTestClient.get(URL(string: "http://127.0.0.1:\(port)/log")!)
        guard let items = try JSONSerialization.jsonObject(with: Data(answer.text.utf8)) as? [[String: Any]] else {
            throw TestFailure("coordinator_app /log: \(answer.text.prefix(200))")
        }
        return items.map { item in
            Request(
                path: item["path"] as? String ?? "", headers: item["headers"] as? [String: String] ?? [:],
                bodyLength: item["body_length"] as? Int ?? -1, status: item["status"] as? Int ?? 0)
        }
    }

    /// From now on stream-closed is answered 200 (after `holdClosed`).
    public func takeClosed() async throws {
        let r = try await HTTPTestClient.post(URL(string: "http://127.0.0.1:\(port)/control/take-closed")!, body: Data())
        guard r.status == 200 else { throw TestFailure("coordinator_app take-closed: \(r.status)") }
    }

    /// The event callbacks so far (path /events), in arrival order.
    public func events() async throws -> [Request] { try await requests().filter { $0.path.hasPrefix("/events") } }

    /// The key verifications so far (path /verify).
    public func verifications() async throws -> [Request] { try await requests().filter { $0.path.hasPrefix("/verify") } }

    deinit { process.stop(SIGKILL) }
}
