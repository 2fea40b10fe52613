import Foundation

/// A real peer (nginx, ffmpeg, ffprobe) run as a child process, its output collected in memory.
public final class PeerProcess: @unchecked Sendable {
    public let process = Process()
    public let name: String
    private let lock = NSLock()
    private var collected = ""
    private var outputEnded = false
    private var diagnostics = PeerDiagnostics.Registration(source: nil)

    /// Starts `executable` (a path, or a name looked up on PATH) with `arguments`.
    public init(_ executable: String, _ arguments: [String], directory: URL? = nil) throws {
        name = URL(fileURLWithPath: executable).lastPathComponent
        guard let path = Self.which(executable) else {
            throw TestFailure("\(executable) is not installed; scripts/test installs it (scripts/install-deps --test)")
        }
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        process.standardInput = FileHandle.nullDevice
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        pipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self else { return }
            guard !data.isEmpty else {
                handle.readabilityHandler = nil
                self.lock.withLock { self.outputEnded = true }
                return
            }
            self.lock.withLock { self.collected += String(decoding: data, as: UTF8.self) }
        }
        try process.runWithDefaultSignalMask()
        let title = "\(name) \(arguments.first { !$0.hasPrefix("-") }.map { URL(fileURLWithPath: $0).lastPathComponent } ?? "") (pid \(process.processIdentifier))"
        diagnostics = PeerDiagnostics.register(title) { [weak self] in self?.output ?? "" }
    }

    public var output: String { lock.withLock { collected } }
    public var isRunning: Bool { process.isRunning }

    /// Waits for the process to exit by itself; kills it and throws after `timeout`.
    @discardableResult
    public func wait(timeout: Duration) async throws -> Int32 {
        do {
            try await Wait.until("\(name) to exit", timeout: timeout) { self.process.isRunning ? nil : true }
        } catch {
            stop()
            throw TestFailure("\(name) did not exit within \(timeout):\n\(output.suffix(2000))")
        }
        // Everything the process wrote is read once its pipe reports end of file.
        _ = try? await Wait.until("\(name)'s output to end", timeout: .seconds(2), interval: .milliseconds(5)) {
            self.lock.withLock { self.outputEnded } ? true : nil
        }
        return process.terminationStatus
    }

    public func stop(_ signal: Int32 = SIGTERM) {
        if process.isRunning { kill(process.processIdentifier, signal) }
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        diagnostics.retire(output)
    }

    static func which(_ name: String) -> String? {
        if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        let paths = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin") + ":/usr/sbin:/sbin"
        for dir in paths.split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}
