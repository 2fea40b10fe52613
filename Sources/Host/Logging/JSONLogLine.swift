import Foundation
import Logging

/// One log entry as one line of JSON: `time` (ISO 8601 UTC with milliseconds), `level`,
/// `logger` (the label), `message`, `source` (the module that logged), then every metadata
/// field under its own name (nested metadata stays nested). A metadata field named like one of
/// the fixed ones is written as `metadata.<name>`.
struct JSONLogLine {
    var time: Date
    var level: Logger.Level
    var logger: String
    var message: String
    var source: String
    var metadata: Logger.Metadata

    static let fixed: Set<String> = ["time", "level", "logger", "message", "source"]

    /// The line, newline included.
    func bytes() -> [UInt8] {
        var object: [String: Value] = [
            "time": .string(Self.timestamp(time)), "level": .string(level.rawValue), "logger": .string(logger),
            "message": .string(message), "source": .string(source),
        ]
        for (key, value) in metadata {
            object[Self.fixed.contains(key) ? "metadata.\(key)" : key] = Value(value)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var bytes = Array((try? encoder.encode(Value.object(object))) ?? Data(#"{"message":"unencodable log entry"}"#.utf8))
        bytes.append(UInt8(ascii: "\n"))
        return bytes
    }

    enum Value: Encodable {
        case string(String)
        case array([Value])
        case object([String: Value])

        init(_ value: Logger.MetadataValue) {
            switch value {
            case .string(let s): self = .string(s)
            case .stringConvertible(let s): self = .string(s.description)
            case .array(let items): self = .array(items.map(Value.init))
            case .dictionary(let d): self = .object(d.mapValues(Value.init))
            }
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .string(let s): try c.encode(s)
            case .array(let a): try c.encode(a)
            case .object(let o): try c.encode(o)
            }
        }
    }

    static func timestamp(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: TimeZone(identifier: "UTC")!))
    }
}
