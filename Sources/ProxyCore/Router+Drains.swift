import Foundation

/// Drained origins (OriginDrain): the Router reads their states from the registry about once a
/// second (at once after this proxy's API changed one), places no new stream on them, and once a
/// drain's grace time ends asks its sessions here to close and releases their routes, so each
/// stream moves with its next session.
extension Router {
    /// How often the drain states are read again, at most.
    static let drainsReadInterval: Duration = .seconds(1)

    /// The drain states as this router last read them.
    public var drainStates: [Backend.ID: OriginDrain] { drains }

    /// Reads the drain states now. A registry without drains has none; a failed read keeps the
    /// last states (a registry outage neither drains nor undrains anything).
    public func reloadDrains() async {
        drainsReadAt = now()
        guard let store = registry as? any OriginDrains else { return }
        do {
            let read = try await store.drains()
            for (id, drain) in read where drains[id] == nil {
                logger.info("backend drained: no new streams", metadata: [
                    "backend": "\(id)", "close_at": "\(drain.closeAt.map { "\($0)" } ?? "never")",
                ])
            }
            for id in drains.keys where read[id] == nil {
                logger.info("backend undrained", metadata: ["backend": "\(id)"])
                for slotID in slots.keys where slotID.backend == id { slots[slotID]?.drainClosed = false }
            }
            drains = read
            drainReadFailures = 0
        } catch {
            // While the registry fails, read again after 1, 2, 4, then every 8 s.
            if drainReadFailures == 0 { logger.warning("drain states not read", metadata: ["error": "\(error)"]) }
            drainsReadAt = now().addingTimeInterval(Double(1 << min(drainReadFailures, 3)) - Self.drainsReadInterval.timeInterval)
            drainReadFailures += 1
        }
    }

    /// Closes this proxy's sessions on backends whose drain grace ended, once per slot, and
    /// releases their routes (a route another backend took meanwhile is left alone).
    func closeDrainedSessions(at t: Date) async {
        for (slotID, slot) in slots where !slot.leases.isEmpty && !slot.drainClosed {
            guard let drain = drains[slotID.backend], drain.closing(at: t) else { continue }
            slots[slotID]?.drainClosed = true
            let reason = "backend \(slotID.backend) drained"
            for lease in slot.leases.values { lease.requestClose(reason) }
            logger.info("closing a drained backend's sessions", metadata: [
                "stream": "\(slotID.key)", "backend": "\(slotID.backend)", "sessions": "\(slot.leases.count)",
            ])
            try? await registry.release(slotID.key, backend: slotID.backend)
        }
    }
}
