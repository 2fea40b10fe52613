/// The kinds of endpoint a backend announces; a session needs one of them
/// (an RTMP session needs `rtmp`, a WHIP request `api` plus `rtc`, and so on).
public enum EndpointKind: String, Sendable, CaseIterable, Codable, Hashable {
    case rtmp, http, api, srt, rtc
}
extension EndpointKind: CodingKeyRepresentable {}
