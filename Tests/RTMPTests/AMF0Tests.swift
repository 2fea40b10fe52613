import NIOCore
import ProxyTesting
import Testing

@testable import RTMP

/// The AMF0 codec: exact wire bytes, round trips of every type, hand-built captures of what
/// ffmpeg sends and SRS/nginx-rtmp answer, hostile input (each a typed error, never a trap, never
/// a large allocation) and a seeded mutation loop.
@Suite struct AMF0Tests {
    // MARK: Hand-built AMF0 bytes, independent of the encoder.

    static func be<T: FixedWidthInteger>(_ v: T) -> [UInt8] {
        withUnsafeBytes(of: v.bigEndian) { Array($0) }
    }
    static func number(_ d: Double) -> [UInt8] { [0x00] + be(d.bitPattern) }
    static func key(_ s: String) -> [UInt8] { be(UInt16(s.utf8.count)) + Array(s.utf8) }
    static func string(_ s: String) -> [UInt8] { [0x02] + key(s) }
    static let null: [UInt8] = [0x05]
    static let end: [UInt8] = [0x00, 0x00, 0x09]
    static func object(_ props: [(String, [UInt8])]) -> [UInt8] {
        [0x03] + props.flatMap { key($0.0) + $0.1 } + end
    }

    /// `connect` as ffmpeg (librtmp-style FMLE publisher) sends it.
    static let ffmpegConnect: [UInt8] =
        string("connect") + number(1)
        + object([
            ("app", string("live")),
            ("type", string("nonprivate")),
            ("flashVer", string("FMLE/3.0 (compatible; Lavf61.1.100)")),
            ("tcUrl", string("rtmp://127.0.0.1:1935/live")),
        ])

    /// SRS / nginx-rtmp answer to `connect`.
    static let srsResult: [UInt8] =
        string("_result") + number(1)
        + object([("fmsVer", string("FMS/3,0,1,123")), ("capabilities", number(31))])
        + object([
            ("level", string("status")),
            ("code", string("NetConnection.Connect.Success")),
            ("description", string("Connection succeeded.")),
            ("objectEncoding", number(0)),
        ])

    static let onStatus: [UInt8] =
        string("onStatus") + number(0) + null
        + object([
            ("level", string("status")),
            ("code", string("NetStream.Publish.Start")),
            ("description", string("Start publishing.")),
        ])

    static func decodeAll(_ bytes: [UInt8], limits: AMF0Limits = .default) -> Result<[AMF0Value], AMF0Error> {
        var buffer = ByteBuffer(bytes: bytes)
        do throws(AMF0Error) {
            let values = try AMF0Decoder.decodeAll(&buffer, limits: limits)
            #expect(buffer.readableBytes == 0)
            return .success(values)
        } catch {
            #expect(buffer.readerIndex == 0, "a failed decode leaves the reader index where it was")
            return .failure(error)
        }
    }

    static func error(_ bytes: [UInt8], limits: AMF0Limits = .default) -> AMF0Error? {
        if case .failure(let e) = decodeAll(bytes, limits: limits) { e } else { nil }
    }

    static func encode(_ values: [AMF0Value]) -> [UInt8] {
        var buffer = ByteBuffer()
        AMF0Encoder.encode(values, into: &buffer)
        return Array(buffer.readableBytesView)
    }

    // MARK: Wire format and round trips

    @Test func helpersMatchTheSpecBytes() {
        #expect(Self.string("connect") + Self.number(1) == [
            0x02, 0x00, 0x07, 0x63, 0x6F, 0x6E, 0x6E, 0x65, 0x63, 0x74,
            0x00, 0x3F, 0xF0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        ])
    }

    @Test func encodesEachTypeAsTheSpecSays() {
        #expect(Self.encode([.number(1)]) == [0x00, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0])
        #expect(Self.encode([.boolean(true), .boolean(false)]) == [0x01, 0x01, 0x01, 0x00])
        #expect(Self.encode([.string("ab")]) == [0x02, 0x00, 0x02, 0x61, 0x62])
        #expect(Self.encode([.object([:])]) == [0x03, 0x00, 0x00, 0x09])
        #expect(Self.encode([.object(["a": .null])]) == [0x03, 0x00, 0x01, 0x61, 0x05, 0x00, 0x00, 0x09])
        #expect(Self.encode([.null, .undefined]) == [0x05, 0x06])
        #expect(Self.encode([.ecmaArray(["a": .null])]) == [0x08, 0, 0, 0, 1, 0x00, 0x01, 0x61, 0x05, 0x00, 0x00, 0x09])
        #expect(Self.encode([.strictArray([.null, .undefined])]) == [0x0A, 0, 0, 0, 2, 0x05, 0x06])
        #expect(Self.encode([.date(1, timezone: -1)]) == [0x0B, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF])
        #expect(Self.encode([.longString("ab")]) == [0x0C, 0, 0, 0, 2, 0x61, 0x62])
    }

    static let everyType: [AMF0Value] = [
        .number(0), .number(-1.5), .number(.infinity), .number(-0.0), .number(1e300),
        .boolean(true), .boolean(false),
        .string(""), .string("live/stream?token=abc"), .string("héllo ✓ 直播"),
        .object([:]), .object(["app": .string("live"), "nested": .object(["n": .number(2)])]),
        .null, .undefined,
        .ecmaArray([:]), .ecmaArray(["duration": .number(0), "width": .number(1920), "stereo": .boolean(true)]),
        .strictArray([]), .strictArray([.number(1), .string("two"), .null, .strictArray([.undefined])]),
        .date(1_700_000_000_000, timezone: 0), .date(-1, timezone: -60),
        .longString(""), .longString("short, but long-string marker"), .longString(String(repeating: "x", count: 100_000)),
        .object([("", .number(1)), ("dup", .number(1)), ("dup", .number(2))]),
    ]

    @Test(arguments: everyType) func roundTrip(_ value: AMF0Value) throws {
        var buffer = ByteBuffer()
        AMF0Encoder.encode(value, into: &buffer)
        buffer.writeBytes([0xAA])
        #expect(try AMF0Decoder.decodeValue(&buffer) == value)
        #expect(Array(buffer.readableBytesView) == [0xAA], "decodeValue reads one value and leaves the rest")
    }

    @Test func roundTripAllTogether() throws {
        var buffer = ByteBuffer()
        AMF0Encoder.encode(Self.everyType, into: &buffer)
        #expect(try AMF0Decoder.decodeAll(&buffer) == Self.everyType)
    }

    @Test func longTextStringsBecomeLongStrings() throws {
        let fits = String(repeating: "a", count: 65_535)
        let over = String(repeating: "é", count: 40_000)  // 80 000 UTF-8 bytes
        let bytes = Self.encode([.string(fits), .string(over)])
        #expect(bytes[0] == 0x02 && bytes[3 + 65_535] == 0x0C)
        guard case .success(let values) = Self.decodeAll(bytes) else { Issue.record("did not decode"); return }
        #expect(values == [.string(fits), .longString(over)])
        #expect(values.map(\.string) == [fits, over])
    }

    @Test func overlongKeyIsCutAtACharacterBoundary() throws {
        let key = String(repeating: "a", count: 65_534) + "é"  // 65 536 bytes; "é" cannot be split
        var buffer = ByteBuffer()
        AMF0Encoder.encode(.object([(key, .null)]), into: &buffer)
        let object = try AMF0Decoder.decodeValue(&buffer).object
        #expect(object?.keys == [String(repeating: "a", count: 65_534)])
    }

    @Test func accessorsAndObjectSubscript() {
        var object: AMF0Object = [("a", .number(1)), ("b", .string("x")), ("a", .number(2))]
        #expect(object["a"] == .number(1))
        #expect(object["missing"] == nil)
        object["b"] = .longString("y")
        object["c"] = .null
        object["a"] = nil
        #expect(object == AMF0Object([("b", .longString("y")), ("c", .null)]))
        #expect(object != AMF0Object([("c", .null), ("b", .longString("y"))]), "order matters")
        #expect(AMF0Value.longString("y").string == "y")
        #expect(AMF0Value.number(3).string == nil)
        #expect(AMF0Value.number(3).number == 3)
        #expect(AMF0Value.ecmaArray(object).object == object)
        #expect(AMF0Value.strictArray([]).object == nil)
    }

    // MARK: Captures

    @Test func ffmpegConnect() throws {
        let command = try RTMPCommand(decoding: ByteBuffer(bytes: Self.ffmpegConnect), amf3: false)
        #expect(command.name == "connect")
        #expect(command.transactionID == 1)
        #expect(command.arguments.isEmpty)
        let object = try #require(command.commandObject.object)
        #expect(object.keys == ["app", "type", "flashVer", "tcUrl"])
        #expect(object["app"]?.string == "live")
        #expect(object["type"]?.string == "nonprivate")
        #expect(object["flashVer"]?.string == "FMLE/3.0 (compatible; Lavf61.1.100)")
        #expect(object["tcUrl"]?.string == "rtmp://127.0.0.1:1935/live")
        #expect(Array(command.encoded().readableBytesView) == Self.ffmpegConnect, "re-encodes to the same bytes")
    }

    @Test func srsConnectResult() throws {
        let command = try RTMPCommand(decoding: ByteBuffer(bytes: Self.srsResult), amf3: false)
        #expect(command.name == "_result")
        #expect(command.transactionID == 1)
        #expect(command.commandObject == .object(["fmsVer": .string("FMS/3,0,1,123"), "capabilities": .number(31)]))
        #expect(command.arguments == [
            .object([
                "level": .string("status"),
                "code": .string("NetConnection.Connect.Success"),
                "description": .string("Connection succeeded."),
                "objectEncoding": .number(0),
            ])
        ])
        #expect(Array(command.encoded().readableBytesView) == Self.srsResult)
    }

    @Test func onStatusPublishStart() throws {
        let command = try RTMPCommand(decoding: ByteBuffer(bytes: Self.onStatus), amf3: false)
        #expect(command.name == "onStatus")
        #expect(command.transactionID == 0)
        #expect(command.commandObject == .null)
        #expect(command.arguments.first?.object?["code"]?.string == "NetStream.Publish.Start")
        #expect(command.arguments.first?.object?["level"]?.string == "status")
        let built = RTMPCommand(
            name: "onStatus", transactionID: 0,
            arguments: [.object(["level": .string("status"), "code": .string("NetStream.Publish.Start"), "description": .string("Start publishing.")])]
        )
        #expect(built == command)
        #expect(Array(built.encoded().readableBytesView) == Self.onStatus)
    }

    @Test func amf3WrappedCommand() throws {
        let plain = try RTMPCommand(decoding: ByteBuffer(bytes: Self.ffmpegConnect), amf3: false)
        let wrapped = try RTMPCommand(decoding: ByteBuffer(bytes: [0x00] + Self.ffmpegConnect), amf3: true)
        #expect(wrapped == plain)
        #expect(throws: AMF0Error.truncated(reading: "AMF3 command format byte")) {
            try RTMPCommand(decoding: ByteBuffer(), amf3: true)
        }
        // Without the skip, the 0x00 would be read as a number marker.
        #expect(throws: AMF0Error.self) { try RTMPCommand(decoding: ByteBuffer(bytes: [0x00] + Self.ffmpegConnect), amf3: false) }
    }

    @Test func commandWithoutObject() throws {
        let command = try RTMPCommand(decoding: ByteBuffer(bytes: Self.string("releaseStream") + Self.number(2)), amf3: false)
        #expect(command == RTMPCommand(name: "releaseStream", transactionID: 2))
    }

    @Test func notACommand() {
        let cases: [[UInt8]] = [
            [],
            Self.number(1) + Self.string("connect"),
            Self.string("connect"),
            Self.string("connect") + Self.string("1"),
        ]
        for bytes in cases {
            let error = #expect(throws: AMF0Error.self) {
                try RTMPCommand(decoding: ByteBuffer(bytes: bytes), amf3: false)
            }
            guard case .notACommand(let why) = error else {
                Issue.record("\(bytes): \(String(describing: error))")
                continue
            }
            #expect(!why.isEmpty)
        }
    }

    // MARK: Hostile input

    @Test func truncatedString() {
        #expect(Self.error([0x02, 0x00, 0x05, 0x61, 0x62]) == .truncated(reading: "string"))
        #expect(Self.error([0x02, 0x00]) == .truncated(reading: "string length"))
        #expect(Self.error([0x02, 0xFF, 0xFF, 0x61]) == .truncated(reading: "string"))
        #expect(Self.error([0x02, 0xFF, 0xFF, 0x61], limits: AMF0Limits(maxStringLength: 100)) == .stringTooLong(length: 65_535, limit: 100))
    }

    @Test func hostileLongStringLength() {
        #expect(Self.error([0x0C, 0xFF, 0xFF, 0xFF, 0xFF, 0x61]) == .stringTooLong(length: 0xFFFF_FFFF, limit: 1 << 20))
        #expect(Self.error([0x0C, 0x00, 0x01, 0x00, 0x00, 0x61]) == .truncated(reading: "long string"))
    }

    @Test func truncatedScalars() {
        #expect(Self.error([0x00, 0x3F, 0xF0]) == .truncated(reading: "number"))
        #expect(Self.error([0x01]) == .truncated(reading: "boolean"))
        #expect(Self.error([0x0B] + Self.be(UInt64(0))) == .truncated(reading: "date timezone"))
        #expect(Self.error([0x08, 0x00]) == .truncated(reading: "ECMA array count"))
        #expect(Self.error([0x03, 0x01]) == .truncated(reading: "object key length"))
        #expect(Self.error([0x03, 0x00, 0x01]) == .truncated(reading: "object key"))
        #expect(Self.error([0x03, 0x00]) == .truncated(reading: "object end marker"))
        #expect(Self.error([0x03] + Self.key("a")) == .truncated(reading: "value marker"))
    }

    @Test func unknownAndUnsupportedMarkers() {
        #expect(Self.error([0xFF]) == .unknownMarker(0xFF))
        #expect(Self.error([0x12]) == .unknownMarker(0x12))
        #expect(Self.error(Self.string("ok") + [0xFF]) == .unknownMarker(0xFF))
        for marker: UInt8 in [0x04, 0x07, 0x0D, 0x0E, 0x0F] {
            #expect(Self.error([marker, 0x00, 0x01]) == .unsupportedMarker(marker))
        }
        #expect(Self.error([0x11, 0x06]) == .avmplusObject)
        #expect(Self.error([0x09]) == .unexpectedObjectEnd)
        #expect(Self.error([0x03] + Self.key("a") + [0x09]) == .unexpectedObjectEnd)
        for error in [AMF0Error.unknownMarker(0xFF), .unsupportedMarker(0x07), .avmplusObject, .truncated(reading: "string")] {
            #expect(!error.description.isEmpty)
        }
        #expect(AMF0Error.unknownMarker(0x0F).description.contains("0x0F"))
    }

    @Test func typedObjectDecodesAsObject() {
        let bytes = [0x10] + Self.key("flash.net.Thing") + Self.key("x") + Self.number(1) + Self.end
        #expect(Self.decodeAll(bytes) == .success([.object(["x": .number(1)])]))
        #expect(Self.error([0x10, 0x00, 0x09, 0x61]) == .truncated(reading: "typed object class name"))
    }

    /// Objects nested `depth` deep, with null at the bottom.
    static func nested(_ depth: Int) -> [UInt8] {
        Array(repeating: [0x03] + key("a"), count: depth).flatMap { $0 } + null + Array(repeating: end, count: depth).flatMap { $0 }
    }

    @Test func nestingTooDeep() {
        #expect(Self.error(Self.nested(100)) == .nestingTooDeep(limit: 16))
        #expect(Self.error(Self.nested(17)) == .nestingTooDeep(limit: 16))
        #expect(Self.error(Self.nested(16)) == nil)
        #expect(Self.error(Self.nested(1), limits: AMF0Limits(maxDepth: 0)) == .nestingTooDeep(limit: 0))
        let arrays = Array(repeating: [UInt8]([0x0A, 0, 0, 0, 1]), count: 100).flatMap { $0 } + Self.null
        #expect(Self.error(arrays) == .nestingTooDeep(limit: 16))
    }

    @Test func strictArrayHostileCount() {
        #expect(Self.error([0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x05, 0x05]) == .tooManyItems(limit: 1024))
        #expect(Self.error([0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x05, 0x05], limits: AMF0Limits(maxItems: .max)) == .truncated(reading: "strict array"))
        #expect(Self.error([0x0A, 0x00, 0x00, 0x03, 0xE8, 0x05, 0x05, 0x05]) == .truncated(reading: "strict array"))
        #expect(Self.error([0x0A, 0x00, 0x00, 0x00, 0x04, 0x05, 0x05, 0x05]) == .truncated(reading: "strict array"))
        #expect(Self.error([0x0A, 0x00, 0x00]) == .truncated(reading: "strict array count"))
    }

    @Test func ecmaArrayCountIsOnlyAHint() {
        let bytes = [0x08, 0xFF, 0xFF, 0xFF, 0xFF] + Self.key("duration") + Self.number(0) + Self.key("width") + Self.number(1280) + Self.end
        #expect(Self.decodeAll(bytes) == .success([.ecmaArray(["duration": .number(0), "width": .number(1280)])]))
        let zeroHint = [0x08, 0, 0, 0, 0] + Self.key("a") + Self.null + Self.end
        #expect(Self.decodeAll(zeroHint) == .success([.ecmaArray(["a": .null])]))
    }

    @Test func objectMissingEndMarker() {
        let bytes = [0x03] + Self.key("app") + Self.string("live")
        #expect(Self.error(bytes) == .truncated(reading: "object end marker"))
        #expect(Self.error(bytes + [0x00, 0x00]) == .truncated(reading: "object end marker"))
        #expect(Self.error(bytes + [0x00, 0x00, 0x05]) == .truncated(reading: "object end marker"), "an empty key, then null")
        #expect(Self.error([0x08, 0, 0, 0, 1] + Self.key("a") + Self.null) == .truncated(reading: "ECMA array end marker"))
        let connectWithoutEnd = Array(Self.ffmpegConnect.dropLast(3))
        #expect(Self.error(connectWithoutEnd) == .truncated(reading: "object end marker"))
    }

    @Test func tooManyItems() {
        let props = (0...1024).map { ("k\($0)", Self.null) }
        #expect(Self.error(Self.object(Array(props.prefix(1024)))) == nil)
        #expect(Self.error(Self.object(props)) == .tooManyItems(limit: 1024))
        let small = AMF0Limits(maxItems: 3)
        #expect(Self.error([0x08, 0, 0, 0, 0] + Self.object(Array(props.prefix(4))).dropFirst(), limits: small) == .tooManyItems(limit: 3))
        #expect(Self.error([0x0A, 0, 0, 0, 4, 0x05, 0x05, 0x05, 0x05], limits: small) == .tooManyItems(limit: 3))
        #expect(Self.error([0x0A, 0, 0, 0, 3, 0x05, 0x05, 0x05], limits: small) == nil)
    }

    @Test func tooManyValues() {
        let limits = AMF0Limits(maxTotalValues: 10)
        let array = [0x0A, 0, 0, 0, 20] + Array(repeating: UInt8(0x05), count: 20)
        #expect(Self.error(array, limits: limits) == .tooManyValues(limit: 10))
        #expect(Self.error(Array(repeating: UInt8(0x06), count: 11), limits: limits) == .tooManyValues(limit: 10))
        #expect(Self.error(Array(repeating: UInt8(0x06), count: 10), limits: limits) == nil)
        #expect(Self.error(Self.ffmpegConnect) == nil, "the default limits take a real connect")
    }

    @Test func decodeValueLeavesTheBufferOnFailure() {
        var buffer = ByteBuffer(bytes: Self.string("ok") + [0x02, 0x00, 0x09, 0x61])
        #expect(throws: AMF0Error.truncated(reading: "string")) {
            _ = try AMF0Decoder.decodeAll(&buffer)
        }
        #expect(buffer.readerIndex == 0)
        #expect((try? AMF0Decoder.decodeValue(&buffer)) == .string("ok"))
        let afterFirst = buffer.readerIndex
        #expect(throws: AMF0Error.self) { _ = try AMF0Decoder.decodeValue(&buffer) }
        #expect(buffer.readerIndex == afterFirst)
    }

    // MARK: Mutation

    static let interesting: [[UInt8]] = [
        [0x00], [0x02], [0x03], [0x05], [0x06], [0x07], [0x08], [0x09], [0x0A], [0x0B], [0x0C], [0x0D],
        [0x0F], [0x10], [0x11], [0xFF], [0x00, 0x00, 0x09], [0xFF, 0xFF], [0xFF, 0xFF, 0xFF, 0xFF],
        [0x08, 0xFF, 0xFF, 0xFF, 0xFF], [0x0A, 0xFF, 0xFF, 0xFF, 0xFF], [0x0C, 0x7F, 0xFF, 0xFF, 0xFF],
        [0x0A, 0x00, 0x00, 0x00, 0x02], [0x03, 0x00, 0x01, 0x61], [0xC3], [0xED, 0xA0, 0x80],
    ]

    @Test func mutatedConnectCommands() {
        var mutator = ByteMutator(seed: 0x5eed_a3f0, interesting: Self.interesting)
        var decoded = 0, refused = 0, commands = 0
        for _ in 0..<5000 {
            let bytes = mutator.mutate(Self.ffmpegConnect)
            switch Self.decodeAll(bytes) {
            case .success(let values):
                decoded += 1
                // Re-encoding is stable: what decodes once encodes to bytes that decode the same.
                let once = Self.encode(values)
                guard case .success(let again) = Self.decodeAll(once) else {
                    Issue.record("re-encoded bytes did not decode: \(bytes)")
                    continue
                }
                #expect(Self.encode(again) == once)
            case .failure(let error):
                refused += 1
                #expect(!error.description.isEmpty)
            }
            do throws(AMF0Error) {
                _ = try RTMPCommand(decoding: ByteBuffer(bytes: bytes), amf3: false)
                commands += 1
            } catch {
                #expect(!error.description.isEmpty)
            }
        }
        #expect(decoded > 200 && refused > 1000, "mutations exercise both outcomes (\(decoded) decoded, \(refused) refused)")
        #expect(commands > 0)
    }
}
