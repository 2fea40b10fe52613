import Foundation
import ProxyCore

/// The body of `POST /api/v1/origins/{id}/drain`: empty, `{}`, or `{"grace_s": 60}` (seconds,
/// 0 to 7 days, after which the origin's sessions are closed; absent: they are never closed).
enum DrainRequestBody {
    static func parse(_ data: Data) throws(APIError) -> Duration? {
        if data.isEmpty { return nil }
        let fields = try APIError.jsonObject(data)
        for name in fields.keys where name != "grace_s" {
            throw APIError(.badRequest, "unknown field '\(name.prefix(64))' (allowed: grace_s)")
        }
        guard let value = fields["grace_s"] else { return nil }
        // JSONSerialization reads true/false as NSNumber too: only real numbers are seconds.
        guard let number = value as? NSNumber, !number.isBoolean else {
            throw APIError(.badRequest, "field 'grace_s': expected a number of seconds")
        }
        let seconds = number.doubleValue
        guard seconds.isFinite, seconds >= 0, seconds <= OriginDrainLimits.maxGrace.seconds else {
            throw APIError(.badRequest, "field 'grace_s': expected 0 to \(Int(OriginDrainLimits.maxGrace.seconds)) seconds")
        }
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }
}
