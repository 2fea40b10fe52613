import Foundation
import NIOSSL
import Synchronization

/// An API's certificate chain and private key, re-read when their files change: every new TLS
/// handshake gets the current pair (through NIOSSL's per-handshake context callback), open
/// connections keep the one they started with. A changed pair that cannot be read, or whose key
/// does not fit its certificate, is not taken: the old pair stays and the check says why.
final class ReloadableCertificate: Sendable {
    struct Pair: Sendable {
        var chain: [NIOSSLCertificate]
        var key: NIOSSLPrivateKey
        /// The files' modification times and sizes when read: what a change is seen by.
        var stamp: [FileStamp]
    }

    struct FileStamp: Equatable, Sendable {
        var modified: Date
        var size: Int
    }

    enum Outcome: Equatable {
        case unchanged
        case reloaded
        /// The files changed but the new pair is unusable; the old one stays.
        case kept(String)
    }

    enum Problem: Error, CustomStringConvertible {
        case cert(String)
        case key(String)
        case mismatch(String)

        var description: String {
            switch self {
            case .cert(let why), .key(let why), .mismatch(let why): why
            }
        }
    }

    var certPath: String { paths.withLock { $0.cert } }
    var keyPath: String { paths.withLock { $0.key } }
    private let paths: Mutex<(cert: String, key: String)>
    private let current: Mutex<Pair>
    /// The stamp of the last pair that failed (not tried again until the files change again).
    private let failedStamp = Mutex<[FileStamp]?>(nil)

    init(cert: String, key: String) throws(Problem) {
        paths = Mutex((cert, key))
        current = Mutex(try Self.read(cert: cert, key: key))
    }

    /// A configuration reload: serves `other`'s pair (already read and checked) from the next
    /// handshake on, and watches its files from now on.
    func adopt(_ other: ReloadableCertificate) {
        let (pair, cert, key) = (other.pair, other.certPath, other.keyPath)
        paths.withLock { $0 = (cert, key) }
        current.withLock { $0 = pair }
        failedStamp.withLock { $0 = nil }
    }

    var pair: Pair { current.withLock { $0 } }

    /// What a handshake serves: the current chain and key.
    var configurationOverride: NIOSSLContextConfigurationOverride {
        let pair = self.pair
        var o = NIOSSLContextConfigurationOverride()
        o.certificateChain = pair.chain.map { .certificate($0) }
        o.privateKey = .privateKey(pair.key)
        return o
    }

    /// A server configuration that asks this object for the pair on every handshake.
    func serverConfiguration() -> TLSConfiguration {
        let pair = self.pair
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: pair.chain.map { .certificate($0) }, privateKey: .privateKey(pair.key))
        configuration.sslContextCallback = { [self] _, promise in promise.succeed(self.configurationOverride) }
        return configuration
    }

    /// Re-reads the files when their modification time or size changed since the pair in use
    /// (or the last failed attempt) was read.
    func reloadIfChanged() -> Outcome {
        let (certPath, keyPath) = paths.withLock { $0 }
        let stamp = Self.stamps(certPath, keyPath)
        if stamp == pair.stamp || stamp == failedStamp.withLock({ $0 }) { return .unchanged }
        do {
            let next = try Self.read(cert: certPath, key: keyPath)
            current.withLock { $0 = next }
            failedStamp.withLock { $0 = nil }
            return .reloaded
        } catch {
            failedStamp.withLock { $0 = stamp }
            return .kept("\(error)")
        }
    }

    static func stamps(_ paths: String...) -> [FileStamp] {
        paths.map { path in
            let attributes = try? FileManager.default.attributesOfItem(atPath: path)
            return FileStamp(
                modified: attributes?[.modificationDate] as? Date ?? .distantPast, size: (attributes?[.size] as? NSNumber)?.intValue ?? -1)
        }
    }

    static func read(cert: String, key: String) throws(Problem) -> Pair {
        let stamp = stamps(cert, key)
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(cert)
        } catch {
            throw .cert("cannot read a PEM certificate from '\(cert)': \(error)")
        }
        guard !chain.isEmpty else { throw .cert("no certificate in '\(cert)'") }
        let privateKey: NIOSSLPrivateKey
        do {
            privateKey = try NIOSSLPrivateKey(file: key, format: .pem)
        } catch {
            throw .key("cannot read a PEM private key from '\(key)': \(error)")
        }
        do {
            _ = try NIOSSLContext(configuration: TLSConfiguration.makeServerConfiguration(
                certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(privateKey)))
        } catch {
            throw .mismatch("the key in '\(key)' does not fit the certificate in '\(cert)': \(error)")
        }
        return Pair(chain: chain, key: privateKey, stamp: stamp)
    }
}
