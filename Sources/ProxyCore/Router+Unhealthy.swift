import Foundation

/// Sessions on a backend endpoint that fails its health checks (BackendHealth's placement verdict)
/// are closed, once per slot, and their route released: a hung origin (SIGSTOP, a full accept
/// queue) sends nothing and sends no RST either, so without this its publishers and players would
/// wait for an idle timeout. Their clients reconnect and land on a healthy backend.
extension Router {
    func closeUnhealthySessions() async {
        guard let health else { return }
        for (slotID, slot) in slots where !slot.leases.isEmpty {
            let down = slot.leases.values.filter { health.isDown(slotID.backend, $0.kind) }
            guard !down.isEmpty else {
                if slot.healthClosed { slots[slotID]?.healthClosed = false }
                continue
            }
            guard !slot.healthClosed else { continue }
            slots[slotID]?.healthClosed = true
            let kinds = Set(down.map(\.kind.rawValue)).sorted().joined(separator: ",")
            for lease in down { lease.requestClose("backend \(slotID.backend) fails its \(kinds) health checks") }
            logger.warning("closing sessions on a backend that fails its health checks", metadata: [
                "stream": "\(slotID.key)", "backend": "\(slotID.backend)", "protocol": "\(kinds)", "sessions": "\(down.count)",
            ])
            try? await registry.release(slotID.key, backend: slotID.backend)
        }
    }
}
