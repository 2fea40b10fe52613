import Foundation
import ProxyTesting
import Testing

/// `tls.reload_check`: a certificate rotated on disk while a client holds a TLS connection: the
/// old connection keeps working, a new one sees the new certificate (a real TLS client,
/// Tests/Peers/tls_client.py, compares the certificates' fingerprints).
@Suite(.serialized, .timeLimit(.minutes(2)), .peerDiagnostics) struct TLSReloadTests {
    @Test func aRotatedCertificateServesNewConnectionsAndOldOnesKeepWorking() async throws {
        let first = try await TestCertificate.make(), second = try await TestCertificate.make()
        let live = try PackagePaths.temporaryDirectory("tls-live")
        let cert = live.appendingPathComponent("cert.pem"), key = live.appendingPathComponent("key.pem")
        try FileManager.default.copyItem(atPath: first.certPath, toPath: cert.path)
        try FileManager.default.copyItem(atPath: first.keyPath, toPath: key.path)
        let proxy = try await ProxyProcess.start(config: """
            system_api: { listen: 127.0.0.1:0, tls: { cert: \(cert.path), key: \(key.path), reload_check: 200ms } }
            modules:
              rtmp: { enabled: false }
              http-flv: { enabled: false }
              srt: { enabled: false }
            """)
        #expect(await proxy.logContains("certificate reload on"))
        let marker = live.appendingPathComponent("rotated").path
        let client = try PeerProcess("python3", [
            PackagePaths.root.appendingPathComponent("Tests/Peers/tls_client.py").path, "127.0.0.1", String(try proxy.systemAPIPort), marker,
            second.certPath,
        ])
        let lines = { client.output.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] } }
        try await Wait.until("connection A", timeout: .seconds(20)) { lines().count >= 1 ? true : nil }
        let a = lines()[0]
        #expect(a["status"] as? Int == 200, "\(a)")

        // A broken pair first (the new certificate with the old key): kept out, logged.
        try FileManager.default.removeItem(at: cert)
        try FileManager.default.copyItem(atPath: second.certPath, toPath: cert.path)
        #expect(await proxy.logContains("certificate files changed but cannot be used", within: .seconds(10)))
        // Then the whole new pair.
        try FileManager.default.removeItem(at: key)
        try FileManager.default.copyItem(atPath: second.keyPath, toPath: key.path)
        #expect(await proxy.logContains("certificate reloaded; new connections use it", within: .seconds(10)))
        _ = FileManager.default.createFile(atPath: marker, contents: Data())

        #expect(try await client.wait(timeout: .seconds(30)) == 0, "\(client.output)")
        let all = lines()
        #expect(all.count == 3, "\(client.output)")
        let again = all[1], b = all[2]
        #expect(again["status"] as? Int == 200 && again["fingerprint"] as? String == a["fingerprint"] as? String,
                "the connection opened before the rotation still works, on its certificate")
        #expect(b["status"] as? Int == 200 && b["fingerprint"] as? String == b["new_cert"] as? String, "a new connection sees the new certificate: \(b)")
        #expect(b["fingerprint"] as? String != a["fingerprint"] as? String)
        try await proxy.stop()
        try? FileManager.default.removeItem(at: live)
    }
}
