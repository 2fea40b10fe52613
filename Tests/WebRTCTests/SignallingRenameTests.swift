import Foundation
import NIOCore
import NIOHTTP1
import ProxyCore
import Testing

@testable import WebRTC

/// A stream the publish hook renamed (the coordinator's origin_name) reaches the backend under
/// that name in every dialect: the WHIP path, the WHIP query, SRS's JSON streamurl.
@Suite struct SignallingRenameTests {
    let renamed = StreamRequest(key: try! StreamKey(vhost: nil, app: "chan-1", stream: "chan-1"), query: "x=1")

    @Test func whipPathAndQueryFormsGetTheNewName() {
        let whip = WHIPDialect(role: .publish)
        #expect(whip.rename(target: "/rtc/v1/whip/chan-1/s3cret?x=1", streamPath: "chan-1/s3cret", to: renamed) == "/rtc/v1/whip/chan-1/chan-1?x=1")
        #expect(whip.rename(target: "/rtc/v1/whip/?app=chan-1&stream=s3cret&x=1", streamPath: "", to: renamed)
            == "/rtc/v1/whip/?app=chan-1&stream=chan-1&x=1")
    }

    @Test func srsJSONStreamURLGetsTheNewPath() throws {
        var json = SRSJSONDialect(role: .publish)
        let body = #"{"streamurl":"webrtc://proxy.example.com/chan-1/s3cret?x=1","sdp":"v=0"}"#
        let request = SignallingRequest(
            method: .POST, uri: "/rtc/v1/publish/", headers: HTTPHeaders(), body: ByteBuffer(string: body), client: "127.0.0.1:5000", local: nil)
        _ = try json.readOffer(request, streamPath: "")
        #expect(json.rename(target: "/rtc/v1/publish/", streamPath: "", to: renamed) == "/rtc/v1/publish/", "the API path stays")
        let (forwarded, _) = json.backendBody(offer: "v=0")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(buffer: forwarded)) as? [String: Any])
        #expect(object["streamurl"] as? String == "webrtc://proxy.example.com/chan-1/chan-1?x=1")
    }
}
