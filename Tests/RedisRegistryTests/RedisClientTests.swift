import ProxyTesting
import RedisRegistry
import Testing

/// The hiredis client against a real redis-server: AUTH and SELECT, the errors a wrong or missing
/// password gives, and a server that accepts but never answers.
@Suite(.timeLimit(.minutes(1)), .peerDiagnostics) struct RedisClientTests {
    static func client(_ port: Int, password: String = "", database: Int = 0, commandTimeout: Duration = .seconds(1)) -> RedisClient {
        RedisClient(configuration: RedisConfiguration(
            port: port, password: password, database: database, connectTimeout: .milliseconds(500),
            commandTimeout: commandTimeout, connections: 1))
    }

    static func message(of body: () async throws -> Void) async -> String? {
        do {
            try await body()
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func authAndSelectReachTheConfiguredDatabase() async throws {
        let server = try await RedisServer.start(arguments: ["--requirepass", "s3cret"])
        defer { server.stop() }
        let five = Self.client(server.port, password: "s3cret", database: 5)
        #expect(try await five.send(["SET", "client-test", "in-five"]) == .status("OK"))
        #expect(try await five.send(["GET", "client-test"]) == .string("in-five"))
        let zero = Self.client(server.port, password: "s3cret")
        #expect(try await zero.send(["GET", "client-test"]) == .null, "database 0 does not hold database 5's key")
        #expect(try await Self.client(server.port, password: "s3cret", database: 5).send(["GET", "client-test"]) == .string("in-five"))
    }

    @Test func aMissingOrWrongPasswordIsAnErrorNamingIt() async throws {
        let server = try await RedisServer.start(arguments: ["--requirepass", "s3cret"])
        defer { server.stop() }
        let missing = await Self.message { _ = try await Self.client(server.port).send(["GET", "k"]) }
        #expect(missing?.contains("NOAUTH") == true, "without a password: \(missing ?? "no error")")
        let wrong = await Self.message { _ = try await Self.client(server.port, password: "guess").send(["GET", "k"]) }
        #expect(wrong?.contains("AUTH:") == true && wrong?.contains("WRONGPASS") == true, "with a wrong one: \(wrong ?? "no error")")
        let selectTooFar = await Self.message { _ = try await Self.client(server.port, password: "s3cret", database: 99).send(["GET", "k"]) }
        #expect(selectTooFar?.contains("SELECT:") == true, "a database the server does not have: \(selectTooFar ?? "no error")")
    }

    @Test func aServerThatNeverAnswersFailsAtTheCommandTimeoutAndTheClientBacksOff() async throws {
        let silent = try SilentTCPListener()
        defer { withExtendedLifetime(silent) {} }  // listening until the end, not only until its port is read
        let client = Self.client(silent.port, commandTimeout: .milliseconds(300))
        let first = await Self.message { _ = try await client.send(["PING"]) }
        #expect(first?.contains("redis unavailable") == true && first?.contains("connect to") == false,
                "the connected but unanswered command fails: \(first ?? "no error")")
        // The first backoff is 100 ms: on a loaded machine the next command can come later than
        // that and reconnect; one of a few tries right after a failure must meet the backoff.
        var messages: [String] = []
        for _ in 0..<8 {
            let next = await Self.message { _ = try await client.send(["PING"]) }
            messages.append(next ?? "no error")
            if next?.contains("backoff") == true { break }
        }
        #expect(messages.last?.contains("backoff") == true, "a command right after a failure waits out the reconnect backoff: \(messages)")
        #expect(messages.allSatisfy { $0.contains("redis unavailable") }, "every command fails while the server is silent: \(messages)")
    }

    @Test func aFullQueueFailsAtOnceInsteadOfWaiting() async throws {
        // A silent server: every command waits for its timeout (5 s). With two allowed to wait,
        // the others fail at once naming the queue, well before any timeout.
        let silent = try SilentTCPListener()
        defer { withExtendedLifetime(silent) {} }
        let client = RedisClient(configuration: RedisConfiguration(
            port: silent.port, connectTimeout: .milliseconds(500), commandTimeout: .seconds(5), connections: 1, maxQueued: 2))
        let started = ContinuousClock.now
        let results = await withTaskGroup(of: (String?, Duration).self) { group in
            for _ in 0..<10 {
                group.addTask { (await Self.message { _ = try await client.send(["PING"]) }, ContinuousClock.now - started) }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        let full = results.filter { $0.0?.contains("queue full") == true }
        #expect(full.count == 8, "all but the two queued fail fast: \(results.map { $0.0 ?? "ok" })")
        #expect(full.allSatisfy { $0.1 < .seconds(3) }, "at once, not at the 5 s command timeout: \(full.map(\.1))")
        #expect(results.allSatisfy { $0.0 != nil }, "the queued two fail at their timeout")
    }
}
