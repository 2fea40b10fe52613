import Foundation
import ProxyCore

/// `hooks.publish_auth.origin_name`: `{channel}/STREAM`, the stream built from `{channel}`,
/// `{key}` and `{id}` (the streaming id) and literal letters, digits, `-` and `_`. The coordinator format publishes
/// a verified stream to its origin under this name, so players reach a channel without knowing
/// its key (`{channel}/{channel}`: `rtmp://proxy/chan-1/chan-1`).
struct OriginNameTemplate: Sendable, Equatable {
    static let `default` = OriginNameTemplate("{channel}/{channel}")!
    let text: String
    private let app: String
    private let stream: String

    init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        // The app stays the channel (an RTMP publisher's connect names it); the stream is free.
        guard parts.count == 2, parts[0] == "{channel}" else { return nil }
        for part in parts {
            var rest = part.replacingOccurrences(of: "{channel}", with: "").replacingOccurrences(of: "{key}", with: "")
                .replacingOccurrences(of: "{id}", with: "")
            guard !part.isEmpty else { return nil }
            rest.removeAll { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
            guard rest.isEmpty else { return nil }
        }
        self.text = text
        app = String(parts[0])
        stream = String(parts[1])
    }

    /// The origin's stream key for a publish of `channel` with `key`, in `vhost`.
    func key(vhost: String, channel: String, key: String, id: String) throws(StreamKeyError) -> StreamKey {
        func fill(_ part: String) -> String {
            part.replacingOccurrences(of: "{channel}", with: channel).replacingOccurrences(of: "{key}", with: key)
                .replacingOccurrences(of: "{id}", with: id)
        }
        return try StreamKey(vhost: vhost, app: fill(app), stream: fill(stream))
    }
}
