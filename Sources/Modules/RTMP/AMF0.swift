import NIOCore

// AMF0 (Adobe "Action Message Format AMF 0"), the encoding of RTMP command and data messages.
//
// The decoder reads untrusted bytes from clients and backends, so it is bounded: every length
// and count is checked against the bytes actually present and against `AMF0Limits` before
// anything is allocated, nesting depth and item counts are capped, and every failure is a typed
// `AMF0Error` (never a trap).
//
// Markers the decoder does not model:
// - 0x10 typed object is decoded as a plain `.object`: its class name is read (bounded like any
//   string) and dropped. It is self-delimiting, so nothing after it is lost.
// - 0x04 movieclip and 0x0E recordset (reserved, never sent), 0x07 reference (needs a table of
//   earlier objects; RTMP clients do not send it), 0x0D unsupported and 0x0F XML document throw
//   `AMF0Error.unsupportedMarker`. SRS and nginx-rtmp refuse these too.
// - 0x11 (switch to AMF3 for one value) throws `AMF0Error.avmplusObject`.

/// One AMF0 value.
public enum AMF0Value: Equatable, Sendable {
    case number(Double)
    case boolean(Bool)
    /// Encoded as a short string (marker 0x02) up to 65 535 UTF-8 bytes, as a long string above.
    case string(String)
    case object(AMF0Object)
    case null
    case undefined
    /// An associative array (marker 0x08). Its count on the wire is only a hint; the properties
    /// run to the object end marker.
    case ecmaArray(AMF0Object)
    case strictArray([AMF0Value])
    /// Milliseconds since the Unix epoch, and a timezone field that the spec reserves (send 0).
    case date(Double, timezone: Int16)
    case longString(String)

    /// The text of a `.string` or `.longString`.
    public var string: String? {
        switch self {
        case .string(let s), .longString(let s): s
        default: nil
        }
    }

    /// The value of a `.number`.
    public var number: Double? {
        if case .number(let n) = self { n } else { nil }
    }

    /// The properties of an `.object` or `.ecmaArray`.
    public var object: AMF0Object? {
        switch self {
        case .object(let o), .ecmaArray(let o): o
        default: nil
        }
    }
}

/// The properties of an AMF0 object or ECMA array, in wire order. Keys may repeat on the wire;
/// lookups return the first match. Equality compares keys and values in order.
public struct AMF0Object: Equatable, Sendable, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral {
    public var pairs: [(String, AMF0Value)]

    public init(_ pairs: [(String, AMF0Value)] = []) {
        self.pairs = pairs
    }

    public init(arrayLiteral elements: (String, AMF0Value)...) {
        self.init(elements)
    }

    public init(dictionaryLiteral elements: (String, AMF0Value)...) {
        self.init(elements)
    }

    public var count: Int { pairs.count }
    public var isEmpty: Bool { pairs.isEmpty }
    public var keys: [String] { pairs.map(\.0) }

    /// The first value under `key`. Setting replaces the first value under `key` (or appends a
    /// pair); setting nil removes every pair with `key`.
    public subscript(key: String) -> AMF0Value? {
        get { pairs.first { $0.0 == key }?.1 }
        set {
            guard let newValue else {
                pairs.removeAll { $0.0 == key }
                return
            }
            if let i = pairs.firstIndex(where: { $0.0 == key }) {
                pairs[i].1 = newValue
            } else {
                pairs.append((key, newValue))
            }
        }
    }

    public static func == (lhs: AMF0Object, rhs: AMF0Object) -> Bool {
        lhs.pairs.count == rhs.pairs.count && zip(lhs.pairs, rhs.pairs).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
    }
}

/// Why AMF0 bytes could not be decoded.
public enum AMF0Error: Error, Equatable, CustomStringConvertible {
    /// The input ended while reading the named part.
    case truncated(reading: String)
    /// A marker byte that AMF0 does not define.
    case unknownMarker(UInt8)
    /// A marker AMF0 defines but this decoder refuses: movieclip, reference, unsupported,
    /// recordset or XML document.
    case unsupportedMarker(UInt8)
    /// Marker 0x11, a switch to AMF3 for one value.
    case avmplusObject
    /// The object end marker (0x09) where a value was expected.
    case unexpectedObjectEnd
    /// Objects and arrays nested deeper than `AMF0Limits.maxDepth`.
    case nestingTooDeep(limit: Int)
    /// An object, ECMA array or strict array with more than `AMF0Limits.maxItems` entries.
    case tooManyItems(limit: Int)
    /// More than `AMF0Limits.maxTotalValues` values, nested ones included, in one decode call.
    case tooManyValues(limit: Int)
    /// A string or key longer than its limit in `AMF0Limits`.
    case stringTooLong(length: Int, limit: Int)
    /// The values decoded but are not an RTMP command (name string, transaction id number).
    case notACommand(String)

    public var description: String {
        switch self {
        case .truncated(let what): "AMF0 input ends inside \(what)"
        case .unknownMarker(let m): "unknown AMF0 marker 0x\(Self.hex(m))"
        case .unsupportedMarker(let m): "unsupported AMF0 marker 0x\(Self.hex(m))"
        case .avmplusObject: "AMF3 value (avmplus-object marker 0x11) inside AMF0 is not supported"
        case .unexpectedObjectEnd: "AMF0 object end marker where a value was expected"
        case .nestingTooDeep(let n): "AMF0 objects nested more than \(n) deep"
        case .tooManyItems(let n): "AMF0 object or array with more than \(n) entries"
        case .tooManyValues(let n): "more than \(n) AMF0 values in one message"
        case .stringTooLong(let length, let limit): "AMF0 string of \(length) bytes exceeds the limit of \(limit)"
        case .notACommand(let why): "not an RTMP command: \(why)"
        }
    }

    private static func hex(_ byte: UInt8) -> String {
        byte < 0x10 ? "0" + String(byte, radix: 16, uppercase: true) : String(byte, radix: 16, uppercase: true)
    }
}

/// Bounds on what one decode call accepts.
public struct AMF0Limits: Sendable, Equatable {
    /// Objects and arrays nested inside one another: 16 allows 16 levels, 0 allows none.
    public var maxDepth: Int
    /// Entries in one object, ECMA array or strict array.
    public var maxItems: Int
    /// UTF-8 bytes in a short string (marker 0x02), an object key or a typed object's class name.
    public var maxStringLength: Int
    /// UTF-8 bytes in a long string (marker 0x0C).
    public var maxLongStringLength: Int
    /// Values in one decode call, nested values included (keys are not values).
    public var maxTotalValues: Int

    public init(
        maxDepth: Int = 16, maxItems: Int = 1024, maxStringLength: Int = 65_535,
        maxLongStringLength: Int = 1 << 20, maxTotalValues: Int = 4096
    ) {
        self.maxDepth = maxDepth
        self.maxItems = maxItems
        self.maxStringLength = maxStringLength
        self.maxLongStringLength = maxLongStringLength
        self.maxTotalValues = maxTotalValues
    }

    public static let `default` = AMF0Limits()
}

/// Marker bytes, AMF0 spec section 2.1.
enum AMF0Marker {
    static let number: UInt8 = 0x00
    static let boolean: UInt8 = 0x01
    static let string: UInt8 = 0x02
    static let object: UInt8 = 0x03
    static let movieclip: UInt8 = 0x04
    static let null: UInt8 = 0x05
    static let undefined: UInt8 = 0x06
    static let reference: UInt8 = 0x07
    static let ecmaArray: UInt8 = 0x08
    static let objectEnd: UInt8 = 0x09
    static let strictArray: UInt8 = 0x0A
    static let date: UInt8 = 0x0B
    static let longString: UInt8 = 0x0C
    static let unsupported: UInt8 = 0x0D
    static let recordset: UInt8 = 0x0E
    static let xmlDocument: UInt8 = 0x0F
    static let typedObject: UInt8 = 0x10
    static let avmplusObject: UInt8 = 0x11
}

/// Reads AMF0 values from a buffer. On failure the buffer's reader index is left where it was.
public struct AMF0Decoder {
    /// Every value until the buffer is empty.
    public static func decodeAll(_ buffer: inout ByteBuffer, limits: AMF0Limits = .default) throws(AMF0Error) -> [AMF0Value] {
        var reader = AMF0Reader(limits: limits)
        let start = buffer.readerIndex
        var values: [AMF0Value] = []
        do throws(AMF0Error) {
            while buffer.readableBytes > 0 {
                values.append(try reader.value(&buffer, depth: 0))
            }
        } catch {
            buffer.moveReaderIndex(to: start)
            throw error
        }
        return values
    }

    /// One value; the bytes after it stay in the buffer.
    public static func decodeValue(_ buffer: inout ByteBuffer, limits: AMF0Limits = .default) throws(AMF0Error) -> AMF0Value {
        var reader = AMF0Reader(limits: limits)
        let start = buffer.readerIndex
        do throws(AMF0Error) {
            return try reader.value(&buffer, depth: 0)
        } catch {
            buffer.moveReaderIndex(to: start)
            throw error
        }
    }
}

/// The state of one decode call: its limits and the number of values read so far.
struct AMF0Reader {
    let limits: AMF0Limits
    var valueCount = 0

    /// One value whose marker is next; `depth` is the number of enclosing objects and arrays.
    mutating func value(_ b: inout ByteBuffer, depth: Int) throws(AMF0Error) -> AMF0Value {
        guard let marker = b.readInteger(as: UInt8.self) else { throw .truncated(reading: "value marker") }
        valueCount += 1
        guard valueCount <= limits.maxTotalValues else { throw .tooManyValues(limit: limits.maxTotalValues) }
        switch marker {
        case AMF0Marker.number:
            return .number(try double(&b, "number"))
        case AMF0Marker.boolean:
            guard let v = b.readInteger(as: UInt8.self) else { throw .truncated(reading: "boolean") }
            return .boolean(v != 0)
        case AMF0Marker.string:
            return .string(try shortString(&b, "string"))
        case AMF0Marker.object:
            return .object(try properties(&b, depth: depth, "object"))
        case AMF0Marker.null:
            return .null
        case AMF0Marker.undefined:
            return .undefined
        case AMF0Marker.ecmaArray:
            // The count is a hint only: encoders get it wrong, and the end marker is what counts.
            guard b.readInteger(as: UInt32.self) != nil else { throw .truncated(reading: "ECMA array count") }
            return .ecmaArray(try properties(&b, depth: depth, "ECMA array"))
        case AMF0Marker.objectEnd:
            throw .unexpectedObjectEnd
        case AMF0Marker.strictArray:
            return .strictArray(try strictArray(&b, depth: depth))
        case AMF0Marker.date:
            let ms = try double(&b, "date")
            guard let tz = b.readInteger(as: Int16.self) else { throw .truncated(reading: "date timezone") }
            return .date(ms, timezone: tz)
        case AMF0Marker.longString:
            guard let n = b.readInteger(as: UInt32.self) else { throw .truncated(reading: "long string length") }
            return .longString(try utf8(&b, length: Int(n), limit: limits.maxLongStringLength, "long string"))
        case AMF0Marker.typedObject:
            _ = try shortString(&b, "typed object class name")
            return .object(try properties(&b, depth: depth, "typed object"))
        case AMF0Marker.avmplusObject:
            throw .avmplusObject
        case AMF0Marker.movieclip, AMF0Marker.reference, AMF0Marker.unsupported, AMF0Marker.recordset, AMF0Marker.xmlDocument:
            throw .unsupportedMarker(marker)
        default:
            throw .unknownMarker(marker)
        }
    }

    private func double(_ b: inout ByteBuffer, _ what: String) throws(AMF0Error) -> Double {
        guard let bits = b.readInteger(as: UInt64.self) else { throw .truncated(reading: what) }
        return Double(bitPattern: bits)
    }

    /// A string with a 16-bit length: a short string, an object key or a class name.
    private func shortString(_ b: inout ByteBuffer, _ what: String) throws(AMF0Error) -> String {
        guard let n = b.readInteger(as: UInt16.self) else { throw .truncated(reading: "\(what) length") }
        return try utf8(&b, length: Int(n), limit: limits.maxStringLength, what)
    }

    /// `length` bytes as UTF-8 (invalid sequences become U+FFFD), after checking the limit and
    /// that the bytes are present, so a hostile length allocates nothing.
    private func utf8(_ b: inout ByteBuffer, length: Int, limit: Int, _ what: String) throws(AMF0Error) -> String {
        guard length <= limit else { throw .stringTooLong(length: length, limit: limit) }
        guard let s = b.readString(length: length) else { throw .truncated(reading: what) }
        return s
    }

    /// Key-value pairs up to the object end marker (0x00 0x00 0x09). An empty key followed by
    /// anything else is an ordinary property, as librtmp reads it.
    private mutating func properties(_ b: inout ByteBuffer, depth: Int, _ what: String) throws(AMF0Error) -> AMF0Object {
        guard depth < limits.maxDepth else { throw .nestingTooDeep(limit: limits.maxDepth) }
        var pairs: [(String, AMF0Value)] = []
        while true {
            let endMarker: [UInt8] = [0x00, 0x00, AMF0Marker.objectEnd]
            if b.readableBytesView.starts(with: endMarker) {
                b.moveReaderIndex(forwardBy: 3)
                return AMF0Object(pairs)
            }
            if b.readableBytes < 3, endMarker.starts(with: b.readableBytesView) {
                throw .truncated(reading: "\(what) end marker")
            }
            guard pairs.count < limits.maxItems else { throw .tooManyItems(limit: limits.maxItems) }
            let key = try shortString(&b, "\(what) key")
            pairs.append((key, try value(&b, depth: depth + 1)))
        }
    }

    /// A counted array. Every element takes at least one byte, so a count above the bytes left
    /// is refused before any allocation.
    private mutating func strictArray(_ b: inout ByteBuffer, depth: Int) throws(AMF0Error) -> [AMF0Value] {
        guard depth < limits.maxDepth else { throw .nestingTooDeep(limit: limits.maxDepth) }
        guard let n = b.readInteger(as: UInt32.self) else { throw .truncated(reading: "strict array count") }
        guard n <= limits.maxItems else { throw .tooManyItems(limit: limits.maxItems) }
        guard n <= b.readableBytes else { throw .truncated(reading: "strict array") }
        var items: [AMF0Value] = []
        items.reserveCapacity(Int(n))
        for _ in 0..<n {
            items.append(try value(&b, depth: depth + 1))
        }
        return items
    }
}

/// Writes AMF0 values.
public enum AMF0Encoder {
    public static func encode(_ values: [AMF0Value], into buffer: inout ByteBuffer) {
        for value in values {
            encode(value, into: &buffer)
        }
    }

    /// Writes one value. A `.string` over 65 535 UTF-8 bytes is written as a long string; an
    /// object key over 65 535 bytes (which AMF0 cannot carry) is cut at the last whole character
    /// that fits.
    public static func encode(_ value: AMF0Value, into buffer: inout ByteBuffer) {
        switch value {
        case .number(let n):
            buffer.writeInteger(AMF0Marker.number)
            buffer.writeInteger(n.bitPattern)
        case .boolean(let v):
            buffer.writeInteger(AMF0Marker.boolean)
            buffer.writeInteger(UInt8(v ? 1 : 0))
        case .string(let s) where s.utf8.count <= Int(UInt16.max):
            buffer.writeInteger(AMF0Marker.string)
            buffer.writeInteger(UInt16(s.utf8.count))
            buffer.writeString(s)
        case .string(let s), .longString(let s):
            buffer.writeInteger(AMF0Marker.longString)
            buffer.writeInteger(UInt32(clamping: s.utf8.count))
            buffer.writeString(s)
        case .object(let o):
            buffer.writeInteger(AMF0Marker.object)
            writeProperties(o, into: &buffer)
        case .null:
            buffer.writeInteger(AMF0Marker.null)
        case .undefined:
            buffer.writeInteger(AMF0Marker.undefined)
        case .ecmaArray(let o):
            buffer.writeInteger(AMF0Marker.ecmaArray)
            buffer.writeInteger(UInt32(clamping: o.count))
            writeProperties(o, into: &buffer)
        case .strictArray(let items):
            buffer.writeInteger(AMF0Marker.strictArray)
            buffer.writeInteger(UInt32(clamping: items.count))
            encode(items, into: &buffer)
        case .date(let ms, let timezone):
            buffer.writeInteger(AMF0Marker.date)
            buffer.writeInteger(ms.bitPattern)
            buffer.writeInteger(timezone)
        }
    }

    private static func writeProperties(_ object: AMF0Object, into buffer: inout ByteBuffer) {
        for (key, value) in object.pairs {
            var bytes = Substring(key).utf8
            if bytes.count > Int(UInt16.max) {
                var end = bytes.index(bytes.startIndex, offsetBy: Int(UInt16.max))
                while end > bytes.startIndex, bytes[end] & 0xC0 == 0x80 { bytes.formIndex(before: &end) }
                bytes = bytes[..<end]
            }
            buffer.writeInteger(UInt16(bytes.count))
            buffer.writeBytes(bytes)
            encode(value, into: &buffer)
        }
        buffer.writeBytes([0x00, 0x00, AMF0Marker.objectEnd])
    }
}

extension AMF0Value {
    /// The type's name, for error messages.
    var kind: String {
        switch self {
        case .number: "a number"
        case .boolean: "a boolean"
        case .string: "a string"
        case .object: "an object"
        case .null: "null"
        case .undefined: "undefined"
        case .ecmaArray: "an ECMA array"
        case .strictArray: "a strict array"
        case .date: "a date"
        case .longString: "a long string"
        }
    }
}
