import Foundation
import ProxyCore

/// The body of `POST /commands/close`: `{"vhost": "...", "app": "live", "stream": "s"}` (vhost
/// optional, `__defaultVhost__` when absent) or `{"key": "vhost/app/stream"}`.
enum CloseRequestBody {
    static func parse(_ data: Data) throws(APIError) -> StreamKey {
        let fields = try APIError.jsonObject(data)
        for name in fields.keys where !["vhost", "app", "stream", "key"].contains(name) {
            throw APIError(.badRequest, "unknown field '\(name.prefix(64))' (allowed: vhost, app, stream, key)")
        }
        if fields["key"] != nil {
            guard fields["app"] == nil, fields["stream"] == nil, fields["vhost"] == nil else {
                throw APIError(.badRequest, "give either 'key' or 'app' and 'stream', not both")
            }
            let key = try string(fields, "key")
            let parts = key.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count >= 3, !parts[0].isEmpty else { throw APIError(.badRequest, "field 'key': expected vhost/app/stream") }
            return try make(vhost: String(parts[0]), app: parts[1..<(parts.count - 1)].joined(separator: "/"), stream: String(parts.last!), field: "key")
        }
        let app = try string(fields, "app")
        let stream = try string(fields, "stream")
        let vhost = fields["vhost"] == nil || fields["vhost"] is NSNull ? nil : try string(fields, "vhost")
        return try make(vhost: vhost, app: app, stream: stream, field: "stream")
    }

    private static func make(vhost: String?, app: String, stream: String, field: String) throws(APIError) -> StreamKey {
        do {
            return try StreamKey(vhost: vhost, app: app, stream: stream)
        } catch {
            throw APIError(.badRequest, "field '\(field)': \(error)")
        }
    }

    private static func string(_ fields: [String: Any], _ name: String) throws(APIError) -> String {
        guard let value = fields[name], !(value is NSNull) else { throw APIError(.badRequest, "missing field '\(name)'") }
        guard let s = value as? String else { throw APIError(.badRequest, "field '\(name)': expected a string") }
        guard !s.isEmpty else { throw APIError(.badRequest, "field '\(name)': must not be empty") }
        guard s.utf8.count <= StreamKey.maxLength else { throw APIError(.badRequest, "field '\(name)': longer than \(StreamKey.maxLength) bytes") }
        return s
    }
}
