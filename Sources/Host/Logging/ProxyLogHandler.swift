import Foundation
import Logging
import Synchronization

/// The process's log handler: every entry at or above the shared level (LogSettings), to
/// standard error, in the shared format: swift-log's StreamLogHandler writes the text lines,
/// JSONLogLine the JSON ones. A logger's own `logLevel`, when set, wins over the shared one.
struct ProxyLogHandler: LogHandler {
    let label: String
    let settings: LogSettings
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    private var ownLevel: Logger.Level?
    private var text: StreamLogHandler

    init(label: String, settings: LogSettings, metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.settings = settings
        self.metadataProvider = metadataProvider
        text = StreamLogHandler.standardError(label: label, metadataProvider: metadataProvider)
        text.logLevel = .trace
    }

    var logLevel: Logger.Level {
        get { ownLevel ?? settings.level }
        set { ownLevel = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        switch settings.format {
        case .text:
            var text = self.text
            text.metadata = metadata
            text.log(event: event)
        case .json:
            var all = metadata
            if let provided = metadataProvider?.get() { all.merge(provided) { _, new in new } }
            if let own = event.metadata { all.merge(own) { _, new in new } }
            if let error = event.error, all["error"] == nil { all["error"] = "\(error)" }
            let line = JSONLogLine(
                time: Date(), level: event.level, logger: label, message: event.message.description, source: event.source, metadata: all)
            Self.write(line.bytes())
        }
    }

    /// One write per line, serialized so lines of different threads never interleave.
    private static let output = Mutex(())

    private static func write(_ bytes: [UInt8]) {
        output.withLock { _ in
            bytes.withUnsafeBufferPointer { buffer in
                var offset = 0
                while offset < buffer.count {
                    let n = Foundation.write(STDERR_FILENO, buffer.baseAddress! + offset, buffer.count - offset)
                    if n <= 0 {
                        if n < 0 && errno == EINTR { continue }
                        return
                    }
                    offset += n
                }
            }
        }
    }
}
