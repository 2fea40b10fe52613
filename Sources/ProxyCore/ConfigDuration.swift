import Foundation

/// A duration in proxy.yaml: `300s`, `500ms`, `5m`, `1h30m`, `1.5s`, or a plain number of seconds.
public struct ConfigDuration: Hashable, Sendable, Codable, CustomStringConvertible {
    public var duration: Duration

    public init(_ duration: Duration) { self.duration = duration }

    public static func seconds(_ s: Int) -> ConfigDuration { .init(.seconds(s)) }
    public static func milliseconds(_ ms: Int) -> ConfigDuration { .init(.milliseconds(ms)) }

    public static let help = "a duration such as 300s, 500ms, 5m, 1h30m"

    /// Parses Go-style durations (as SRS's proxy takes them): sequences of number+unit, units ns us ms s m h.
    public init?(parsing text: String) {
        let s = text.trimmingCharacters(in: .whitespaces)
        guard !s.isEmpty, s.utf8.count <= 64 else { return nil }
        if let plain = Double(s), plain >= 0, plain.isFinite, plain < 1e9 {
            self.init(.milliseconds(Int64((plain * 1000).rounded())))
            return
        }
        var total = 0.0
        var rest = Substring(s)
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            guard !number.isEmpty, let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            let unit = rest.prefix { $0.isLetter || $0 == "µ" }
            rest = rest.dropFirst(unit.count)
            let scale: Double
            switch unit {
            case "ns": scale = 1e-9
            case "us", "µs": scale = 1e-6
            case "ms": scale = 1e-3
            case "s": scale = 1
            case "m": scale = 60
            case "h": scale = 3600
            default: return nil
            }
            total += value * scale
        }
        guard total.isFinite, total < 1e9 else { return nil }
        self.init(.nanoseconds(Int64((total * 1e9).rounded())))
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let n = try? c.decode(Double.self) {
            guard n >= 0, n.isFinite, n < 1e9 else { throw DecodingError.dataCorruptedError(in: c, debugDescription: "invalid duration \(n) (expected \(Self.help))") }
            self.init(.milliseconds(Int64((n * 1000).rounded())))
            return
        }
        guard let text = try? c.decode(String.self) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "expected \(Self.help)")
        }
        guard let d = ConfigDuration(parsing: text) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "invalid duration '\(text)' (expected \(Self.help))")
        }
        self = d
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }

    public var description: String {
        let ms = Int64(duration.seconds * 1000)
        if ms % 1000 == 0 { return "\(ms / 1000)s" }
        return "\(ms)ms"
    }
}
