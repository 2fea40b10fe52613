import Foundation

/// A Redis primary, one replica of it and one redis-sentinel monitoring them (Debian's
/// redis-server and redis-sentinel), on free ports of 127.0.0.1, for failover tests. The
/// sentinel declares the primary down after 1 s and promotes the replica.
public final class RedisSentinelSet: Sendable {
    public static let masterName = "streamproxy-primary"
    public let primary: RedisServer
    public let replica: RedisServer
    public let sentinelPort: Int
    private let sentinel: PeerProcess
    private let directory: URL

    public static func start() async throws -> RedisSentinelSet {
        let primary = try await RedisServer.start()
        let replica = try await RedisServer.start(arguments: ["--replicaof", "127.0.0.1", String(primary.port)])
        let set = try RedisSentinelSet(primary: primary, replica: replica)
        try await Wait.until("the replica in sync and known to the sentinel", timeout: .seconds(20)) { () throws -> Bool? in
            if !set.sentinel.isRunning { throw TestFailure("redis-sentinel exited:\n\(set.sentinel.output)") }
            let link = try Self.cli(replica.port, ["INFO", "replication"]).contains("master_link_status:up")
            let known = try Self.cli(set.sentinelPort, ["SENTINEL", "replicas", masterName]).contains(String(replica.port))
            return link && known ? true : nil
        }
        return set
    }

    private init(primary: RedisServer, replica: RedisServer) throws {
        self.primary = primary
        self.replica = replica
        sentinelPort = try FreePort.tcp()
        directory = try PackagePaths.temporaryDirectory("redis-sentinel")
        let file = directory.appendingPathComponent("sentinel.conf")
        // The sentinel rewrites its file as it learns the set: it must be writable and its own.
        try """
            port \(sentinelPort)
            bind 127.0.0.1
            daemonize no
            dir \(directory.path)
            sentinel monitor \(Self.masterName) 127.0.0.1 \(primary.port) 1
            sentinel down-after-milliseconds \(Self.masterName) 1000
            sentinel failover-timeout \(Self.masterName) 5000
            sentinel parallel-syncs \(Self.masterName) 1
            """.write(to: file, atomically: true, encoding: .utf8)
        sentinel = try PeerProcess("redis-sentinel", [file.path])
    }

    /// The port of the server the sentinel names as the primary now.
    public func primaryPort() throws -> Int? {
        let answer = try Self.cli(sentinelPort, ["SENTINEL", "get-master-addr-by-name", Self.masterName])
        return answer.split(separator: "\n").last.flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    }

    /// `redis-cli -p port args...`, its output.
    public static func cli(_ port: Int, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/redis-cli")
        process.arguments = ["-h", "127.0.0.1", "-p", String(port)] + arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    deinit {
        sentinel.stop(SIGKILL)
        try? FileManager.default.removeItem(at: directory)
    }
}
