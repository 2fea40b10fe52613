import ProxyCore
import ProxyNet

/// The health check of an srt endpoint: a caller's induction (version 4), answered by a listener
/// with its own induction (version 5, SRT's magic in the extension field). No session is created:
/// a listener only keeps state from the conclusion on.
extension SRTModule: HealthProbing {
    public var healthProbes: [EndpointKind: any EndpointProbe] { [.srt: Self.healthProbe] }

    static let healthProbe = UDPExchangeProbe(name: "srt induction", request: induction()) { bytes in
        guard let hs = try? SRTHandshake(parsing: bytes) else { return .unhealthy("not an SRT handshake") }
        guard hs.kind == .induction else { return .unhealthy("answered \(hs.kind) to an induction") }
        return hs.version == 5 && hs.extensionField == SRTHandshake.magic ? .healthy : .unhealthy("induction answer version \(hs.version)")
    }

    private static func induction() -> [UInt8] {
        var hs = SRTHandshake()
        hs.version = 4
        hs.extensionField = SRTHandshake.inductionExtensionField
        hs.kind = .induction
        hs.socketID = UInt32.random(in: 1...0x3FFF_FFFF)
        hs.initialSequence = UInt32.random(in: 0...0x7FFF_FFFF)
        return hs.serialized()
    }
}
