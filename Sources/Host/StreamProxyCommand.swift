import ArgumentParser
import Foundation
import Logging

/// `stream-proxy [--config FILE] [--check-config] [--version] [--log-level LEVEL]`
@main
struct StreamProxyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stream-proxy",
        abstract: "A proxy in front of a pool of live-media origin servers (RTMP, HTTP-FLV/HLS, SRT, WebRTC).",
        version: ProxyVersion.string)

    @Option(name: .long, help: "The configuration file.")
    var config = "proxy.yaml"

    @Flag(name: .long, help: "Validate the configuration and exit (0 when valid, 2 when not).")
    var checkConfig = false

    @Option(name: .long, help: "trace, debug, info (default; log.level in the file, debug with the coordinator's LOG_DEBUG=YES), notice, warning, error or critical.")
    var logLevel: String?

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        var flagLevel: Logger.Level?
        if let name = logLevel {
            guard let level = Logger.Level(rawValue: name.lowercased()) else {
                FileHandle.standardError.write(Data("--log-level: unknown level '\(name)' (allowed: \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")))\n".utf8))
                throw ExitCode(2)
            }
            flagLevel = level
        }
        let loaded: LoadedConfig
        do {
            loaded = try ConfigLoader(file: config).load()
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(2)
        }
        // Logging follows the file's `log:` (the flag wins over its level); the settings are
        // shared by every logger, so a reload can change them.
        let settings = LogSettings(
            level: LogSettings.level(flag: flagLevel, config: loaded.proxy.log, logDebug: DerivedEnvironment.flag(environment["LOG_DEBUG"] ?? "") == true),
            format: loaded.proxy.log.format)
        LoggingSystem.bootstrap { label in ProxyLogHandler(label: label, settings: settings) }
        let logger = Logger(label: "proxy.host")

        let duplicates = ModuleCatalog.duplicateNames()
        guard duplicates.isEmpty else {
            FileHandle.standardError.write(Data("module catalog: duplicate module names: \(duplicates.joined(separator: ", "))\n".utf8))
            throw ExitCode(2)
        }

        // Build every enabled module once before anything binds: a module that refuses its
        // configuration is a configuration error (exit 2), with or without --check-config.
        do {
            try ProxyHost(config: loaded, logger: logger).buildModules()
        } catch {
            FileHandle.standardError.write(Data("\(loaded.file): \(error)\n".utf8))
            throw ExitCode(2)
        }
        if checkConfig {
            let enabled = loaded.modules.filter(\.enabled).map(\.name)
            print("\(config): configuration is valid (modules enabled: \(enabled.isEmpty ? "none" : enabled.joined(separator: ", ")))")
            return
        }
        do {
            var host = ProxyHost(config: loaded, logger: logger)
            host.logSettings = settings
            host.logLevelFlag = flagLevel
            try await host.run()
        } catch {
            logger.critical("stopped with an error", metadata: ["error": "\(error)"])
            throw ExitCode(1)
        }
    }
}
