import ProxyCore
import ProxyNet

/// The health check of an http endpoint: `HEAD /` answered with an HTTP status below 500.
extension HTTPFLVModule: HealthProbing {
    public var healthProbes: [EndpointKind: any EndpointProbe] {
        [.http: TCPExchangeProbe.httpStatus(name: "http HEAD /", method: "HEAD", path: "/")]
    }
}
