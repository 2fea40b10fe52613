import ProxyCore
import ProxyNet

/// The health check of an origin's api endpoint (where WHIP/WHEP and SRS's JSON signalling go):
/// SRS's `GET /api/v1/versions`, answered with a status below 500. The rtc (UDP) endpoint is not
/// checked: it answers only STUN of sessions the api set up.
extension WebRTCModule: HealthProbing {
    public var healthProbes: [EndpointKind: any EndpointProbe] {
        [.api: TCPExchangeProbe.httpStatus(name: "api GET /api/v1/versions", path: "/api/v1/versions")]
    }
}
