import Testing

@testable import WebRTC

/// Inputs the fuzzer (fuzz/run, target webrtc-location) found, replayed: a backend's Location
/// must resolve to an origin-form target, the request target of the PATCH and DELETE the proxy
/// sends to the backend later. An absolute URL without a path (`http://origin:1985`, or `W:`)
/// resolved to an empty target. Corpus: fuzz/corpus/regression-webrtc-location-*.
@Suite struct FuzzRegressionTests {
    static let path = "/rtc/v1/whip/live/s"

    @Test(arguments: [
        ("W:", "/"),
        ("http://origin:1985", "/"),
        ("http://origin:1985?action=delete&token=t", "/?action=delete&token=t"),
        ("https://origin.example:1990/rtc/v1/whip/?action=delete", "/rtc/v1/whip/?action=delete"),
        ("/rtc/v1/whip/?session=1", "/rtc/v1/whip/?session=1"),
        ("session/1", "/rtc/v1/whip/live/session/1"),
    ])
    func locationsResolveToOriginFormTargets(_ location: String, _ target: String) {
        let resolved = WebRTCSignalling.resolve(location, against: Self.path)
        #expect(resolved == target)
        #expect(resolved.hasPrefix("/"))
    }
}
