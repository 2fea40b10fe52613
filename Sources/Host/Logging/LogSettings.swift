import Logging
import Synchronization

/// The level and format every logger of the process follows, shared by all their handlers so a
/// reload changes them for loggers that already exist. One instance, made at start.
final class LogSettings: Sendable {
    private let levelIndex: Atomic<Int>
    private let jsonFormat: Atomic<Bool>

    init(level: Logger.Level, format: LogConfig.Format) {
        levelIndex = Atomic(Self.levels.firstIndex(of: level) ?? 2)
        jsonFormat = Atomic(format == .json)
    }

    private static let levels = Logger.Level.allCases

    var level: Logger.Level {
        get { Self.levels[levelIndex.load(ordering: .relaxed)] }
        set { levelIndex.store(Self.levels.firstIndex(of: newValue) ?? 2, ordering: .relaxed) }
    }

    var format: LogConfig.Format {
        get { jsonFormat.load(ordering: .relaxed) ? .json : .text }
        set { jsonFormat.store(newValue == .json, ordering: .relaxed) }
    }

    /// The level from the flag, else `debug` for LOG_DEBUG=YES (the environment wins over the
    /// file, as everywhere), else `log.level`, else `info`.
    static func level(flag: Logger.Level?, config: LogConfig, logDebug: Bool) -> Logger.Level {
        flag ?? (logDebug ? .debug : nil) ?? config.level ?? .info
    }
}
