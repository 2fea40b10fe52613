/// Message type ids (RTMP specification, section 5.4 and 7.1).
enum RTMPMessageType {
    static let setChunkSize: UInt8 = 1
    static let abort: UInt8 = 2
    static let acknowledgement: UInt8 = 3
    static let userControl: UInt8 = 4
    static let windowAckSize: UInt8 = 5
    static let setPeerBandwidth: UInt8 = 6
    static let audio: UInt8 = 8
    static let video: UInt8 = 9
    static let dataAMF3: UInt8 = 15
    static let commandAMF3: UInt8 = 17
    static let dataAMF0: UInt8 = 18
    static let commandAMF0: UInt8 = 20
    static let aggregate: UInt8 = 22
}
