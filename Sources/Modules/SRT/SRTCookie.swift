// The SYN cookie of the proxy's induction responses. Imports nothing (compiled into the fuzz harness too).

/// SYN cookies as a keyed hash of the caller's address and a time bucket, so an INDUCTION costs
/// no state: the cookie in a CONCLUSION is checked by recomputing it for the current bucket and
/// the one before (a cookie stays valid for one to two bucket lengths).
public struct SRTCookie: Sendable {
    public let key: (UInt64, UInt64)
    /// Bucket length in seconds.
    public let bucketSeconds: UInt64

    public init(key: (UInt64, UInt64), bucketSeconds: UInt64 = 60) {
        self.key = key
        self.bucketSeconds = max(1, bucketSeconds)
    }

    /// A random key (SystemRandomNumberGenerator reads the kernel's random source).
    public static func random(bucketSeconds: UInt64 = 60) -> SRTCookie {
        var rng = SystemRandomNumberGenerator()
        return SRTCookie(key: (rng.next(), rng.next()), bucketSeconds: bucketSeconds)
    }

    /// The cookie for `address` (any stable byte form of the caller's address and port) at `seconds`.
    public func make(address: UnsafeRawBufferPointer, seconds: UInt64) -> UInt32 {
        cookie(address, bucket: seconds / bucketSeconds)
    }

    /// Whether `cookie` was made for `address` in this bucket or the previous one.
    public func verify(_ cookie: UInt32, address: UnsafeRawBufferPointer, seconds: UInt64) -> Bool {
        let bucket = seconds / bucketSeconds
        return cookie == self.cookie(address, bucket: bucket) || (bucket > 0 && cookie == self.cookie(address, bucket: bucket - 1))
    }

    private func cookie(_ address: UnsafeRawBufferPointer, bucket: UInt64) -> UInt32 {
        var h = SipHash24(key: key)
        h.append(address)
        withUnsafeBytes(of: bucket.littleEndian) { h.append($0) }
        let v = h.finalize()
        return UInt32(truncatingIfNeeded: v ^ (v >> 32))
    }
}

/// SipHash-2-4 (Aumasson and Bernstein), 64-bit output: a keyed hash fast on short inputs.
/// Written here because the standard library's Hasher has no caller-chosen key.
struct SipHash24 {
    private var v0: UInt64, v1: UInt64, v2: UInt64, v3: UInt64
    private var tail: UInt64 = 0
    private var tailBytes = 0
    private var length = 0

    init(key: (UInt64, UInt64)) {
        v0 = key.0 ^ 0x736f_6d65_7073_6575
        v1 = key.1 ^ 0x646f_7261_6e64_6f6d
        v2 = key.0 ^ 0x6c79_6765_6e65_7261
        v3 = key.1 ^ 0x7465_6462_7974_6573
    }

    private static func rotl(_ x: UInt64, _ b: UInt64) -> UInt64 { (x << b) | (x >> (64 - b)) }

    private mutating func round() {
        v0 &+= v1; v1 = Self.rotl(v1, 13); v1 ^= v0; v0 = Self.rotl(v0, 32)
        v2 &+= v3; v3 = Self.rotl(v3, 16); v3 ^= v2
        v0 &+= v3; v3 = Self.rotl(v3, 21); v3 ^= v0
        v2 &+= v1; v1 = Self.rotl(v1, 17); v1 ^= v2; v2 = Self.rotl(v2, 32)
    }

    private mutating func compress(_ m: UInt64) {
        v3 ^= m
        round()
        round()
        v0 ^= m
    }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        for byte in bytes {
            tail |= UInt64(byte) << (8 * UInt64(tailBytes))
            tailBytes += 1
            length += 1
            if tailBytes == 8 {
                compress(tail)
                tail = 0
                tailBytes = 0
            }
        }
    }

    mutating func finalize() -> UInt64 {
        compress(tail | UInt64(truncatingIfNeeded: length & 0xFF) << 56)
        v2 ^= 0xFF
        round()
        round()
        round()
        round()
        return v0 ^ v1 ^ v2 ^ v3
    }
}
