import HTTPFLV
import RTMP
import SRT
import WebRTC

extension ModuleCatalog {
    /// Every protocol module in this build, in the order logs and APIs list them. Enabled modules
    /// are built in this order before anything binds, then start together and are told to shut
    /// down together (ModuleGroup), so none keeps accepting while another drains.
    /// Adding a protocol = a folder under Sources/Modules/ and one line here.
    static let entries: [Entry] = [
        entry(RTMPModule.self),
        entry(HTTPFLVModule.self),
        entry(WebRTCModule.self),
        entry(SRTModule.self),
    ]
}
