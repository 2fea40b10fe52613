import ProxyCore
import Testing

@testable import SRT

/// The Stream ID a renamed SRT session gives its backend: SRS's access-control form, read back
/// by the proxy's own parser as the stream it was routed under.
@Suite struct SRTBackendStreamIDTests {
    @Test(arguments: [
        (StreamRequest(key: try! StreamKey(vhost: nil, app: "chan-1", stream: "chan-1")), SessionRole.publish, "#!::r=chan-1/chan-1,m=publish"),
        (StreamRequest(key: try! StreamKey(vhost: "v.example.com", app: "chan-1", stream: "chan-1"), query: "x=1"), .publish,
         "#!::r=chan-1/chan-1?x=1,m=publish,h=v.example.com"),
        (StreamRequest(key: try! StreamKey(vhost: nil, app: "live", stream: "s")), .play, "#!::r=live/s,m=request"),
    ] as [(StreamRequest, SessionRole, String)])
    func aRenamedStreamIsNamedInSRSsForm(_ request: StreamRequest, _ role: SessionRole, _ expected: String) throws {
        let sid = SRTSession.streamID(for: request, role: role)
        #expect(sid == expected)
        let parsed = try SRTStreamID(parsing: sid)
        #expect(parsed.request.key == request.key && parsed.role == role, "the proxy reads back what it routed")
        let ext = SRTHandshake.streamIDExtension(sid)
        var handshake = SRTHandshake()
        handshake.extensions = [ext]
        #expect(try handshake.streamID() == sid)
    }
}
