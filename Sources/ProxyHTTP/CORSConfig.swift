import Foundation
import ProxyCore

/// `modules.<name>.cors` of the modules browsers reach across origins (HTTP-FLV/HLS players,
/// WebRTC's WHIP/WHEP clients): CORS headers as SRS adds them, on by default.
public struct CORSConfig: Decodable, Sendable {
    public var enabled = true
    /// `Access-Control-Allow-Origin` value. Default `*` (WebRTC answers a well-formed request
    /// `Origin` itself in its place).
    public var allowOrigin = "*"

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case enabled
        case allowOrigin = "allow_origin"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        enabled = try c.decode(Bool.self, forKey: .enabled, default: true)
        allowOrigin = try c.decode(String.self, forKey: .allowOrigin, default: "*")
        guard !allowOrigin.isEmpty, !allowOrigin.contains(where: { $0 == "\r" || $0 == "\n" }) else {
            throw c.invalid(.allowOrigin, "must be a non-empty single-line value")
        }
    }
}
