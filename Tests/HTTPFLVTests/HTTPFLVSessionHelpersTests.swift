import ProxyCore
import ProxyHTTP
import Testing

@testable import HTTPFLV

@Suite struct HTTPFLVSessionHelpersTests {
    func head(_ target: String) -> ClientRequestHead {
        ClientRequestHead(method: "GET", target: target, minorVersion: 1, headers: [("Host", "proxy.example")])
    }

    @Test(arguments: [
        ("/live/s.flv", "flv"),
        ("/live/S.M3U8", "m3u8"),
        ("/live/s-1.ts", "ts"),
        ("/live/s.tar.gz", "gz"),
        ("/live/s", ""),
        ("/live.d/s", ""),
        ("/live/s.", ""),
        ("/live/.hidden", "hidden"),
        ("/live/s.flv/", "flv"),
        ("/", ""),
        ("", ""),
    ])
    func fileExtension(_ path: String, _ expected: String) {
        #expect(HTTPFLVSession.fileExtension(path) == expected)
    }

    @Test(arguments: [
        ("/live/s.m3u8", "/live/s.m3u8", "/live/s.m3u8"),
        ("/live/s.m3u8?", "/live/s.m3u8", "/live/s.m3u8"),
        ("/live/s.m3u8?token=1", "/live/s.m3u8?token=1", "/live/s.m3u8?token=1"),
        ("/live/s.m3u8?spsid=abc", "/live/s.m3u8?spsid=abc", "/live/s.m3u8"),
        ("/live/s.m3u8?a=1&spsid=abc&b=2", "/live/s.m3u8?a=1&spsid=abc&b=2", "/live/s.m3u8?a=1&b=2"),
        ("/live/s.m3u8?spsid&a=1", "/live/s.m3u8?spsid&a=1", "/live/s.m3u8?a=1"),
        ("/live/s.m3u8?spsid=1&spsid=2", "/live/s.m3u8?spsid=1&spsid=2", "/live/s.m3u8"),
        ("/live/s.m3u8?spsidx=1&SPSID=2", "/live/s.m3u8?spsidx=1&SPSID=2", "/live/s.m3u8?spsidx=1&SPSID=2"),
        ("/live/s.m3u8?a=1&&b=2", "/live/s.m3u8?a=1&&b=2", "/live/s.m3u8?a=1&b=2"),
        ("http://origin.example:8080/live/s.flv?t=1&spsid=x", "/live/s.flv?t=1&spsid=x", "/live/s.flv?t=1"),
        ("http://origin.example", "/", "/"),
        ("http://origin.example?spsid=x", "/?spsid=x", "/"),
    ])
    func originForm(_ target: String, _ kept: String, _ dropped: String) {
        #expect(HTTPFLVSession.originForm(head(target), droppingSession: false) == kept)
        #expect(HTTPFLVSession.originForm(head(target), droppingSession: true) == dropped)
    }

    @Test func sessionParameterName() {
        #expect(HLSSessionStore.parameter == "spsid")
    }

    /// The redirect that starts an HLS session names a path on the proxy, whatever the request path.
    @Test(arguments: [
        ("/live/s.m3u8", "/live/s.m3u8"),
        ("/live/s.m3u8?t=1", "/live/s.m3u8?t=1"),
        ("//evil.example/live/s.m3u8", "/.//evil.example/live/s.m3u8"),
        ("/\\evil.example/live/s.m3u8", "/./\\evil.example/live/s.m3u8"),
        ("/./x", "/./x"),
    ])
    func localReference(_ originForm: String, _ expected: String) {
        #expect(HTTPFLVSession.localReference(originForm) == expected)
        let location = HLSPlaylistRewriter(parameter: "spsid", sessionID: "S").rewriteURI(HTTPFLVSession.localReference(originForm))
        #expect(!location.hasPrefix("//") && !location.hasPrefix("/\\"))
        #expect(location.hasSuffix("spsid=S"))
    }
}
