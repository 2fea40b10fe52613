import HTTPFLV
import RTMP
import SRT
import WebRTC

extension ModuleCatalog {
    /// Every protocol module in this build. Order = start order; shutdown runs in reverse.
    /// Adding a protocol = a folder under Sources/Modules/ and one line here.
    static let entries: [Entry] = [
        entry(RTMPModule.self),
        entry(HTTPFLVModule.self),
        entry(WebRTCModule.self),
        entry(SRTModule.self),
    ]
}
