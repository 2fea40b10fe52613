import Foundation
import Logging
import Testing

@testable import Host

/// One log entry as one JSON line: the fixed fields, every metadata field by name (nested ones
/// nested, a clash with a fixed name renamed), text escaped, one line whatever the message holds.
@Suite struct JSONLogLineTests {
    @Test func theFixedFieldsAndEveryMetadataField() throws {
        let line = JSONLogLine(
            time: Date(timeIntervalSince1970: 1_700_000_000.25), level: .warning, logger: "proxy.rtmp", message: "backend \"x\"\nunreachable",
            source: "RTMP", metadata: [
                "stream": "live/a", "bytes": .stringConvertible(42), "level": "mine", "path": "/api/v1/x",
                "peers": .array(["a", "b"]), "nested": .dictionary(["k": "v"]),
            ])
        let bytes = line.bytes()
        #expect(bytes.last == UInt8(ascii: "\n") && bytes.dropLast().allSatisfy { $0 != UInt8(ascii: "\n") }, "one line")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        #expect(object["time"] as? String == "2023-11-14T22:13:20.250Z")
        #expect(object["level"] as? String == "warning" && object["logger"] as? String == "proxy.rtmp" && object["source"] as? String == "RTMP")
        #expect(object["message"] as? String == "backend \"x\"\nunreachable")
        #expect(object["stream"] as? String == "live/a" && object["bytes"] as? String == "42")
        #expect(object["metadata.level"] as? String == "mine", "a clash with a fixed field keeps both")
        #expect(object["peers"] as? [String] == ["a", "b"] && (object["nested"] as? [String: String]) == ["k": "v"])
        #expect(String(decoding: bytes, as: UTF8.self).contains(#""path":"/api/v1/x""#), "slashes unescaped")
    }

    @Test func theSharedLevelAppliesToLoggersThatExist() {
        let settings = LogSettings(level: .info, format: .json)
        var handler = ProxyLogHandler(label: "t", settings: settings)
        #expect(handler.logLevel == .info)
        settings.level = .debug
        #expect(handler.logLevel == .debug, "a reload reaches existing handlers")
        handler.logLevel = .error
        settings.level = .trace
        #expect(handler.logLevel == .error, "a logger's own level wins")
        #expect(LogSettings.level(flag: nil, config: LogConfig(), logDebug: false) == .info)
        var config = LogConfig()
        config.level = .warning
        #expect(LogSettings.level(flag: nil, config: config, logDebug: false) == .warning)
        #expect(LogSettings.level(flag: nil, config: config, logDebug: true) == .debug, "LOG_DEBUG=YES wins over the file")
        #expect(LogSettings.level(flag: .critical, config: config, logDebug: true) == .critical, "the flag wins over all")
    }
}
