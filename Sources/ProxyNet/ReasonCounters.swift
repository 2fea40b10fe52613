import Synchronization

/// A fixed reason a module counts (a refused connection, a dropped request...): one case per
/// reason, each with a label value that is lowercase with underscores and never changes, so the
/// series of a metric are the same on every proxy and from its first scrape.
public protocol CountedReason: CaseIterable, Hashable, Sendable where AllCases: RandomAccessCollection {
    /// The value of the reason's label in `GET /metrics` (`bad_handshake`).
    var label: String { get }
}

/// One counter per case of `Reason`, for modules whose connections run on many event loops (the
/// TCP modules): created with the module, incremented by any connection with one relaxed atomic
/// add (no lock, no allocation), read at scrape time. Every reason has its counter from the start,
/// so `samples` reports each of them, at 0 until the first increment.
public final class ReasonCounters<Reason: CountedReason>: Sendable {
    private final class Cell: Sendable {
        let value = Atomic<UInt64>(0)
    }

    private let cells: [Reason: Cell]

    public init() {
        var cells: [Reason: Cell] = [:]
        for reason in Reason.allCases { cells[reason] = Cell() }
        self.cells = cells
    }

    public func increment(_ reason: Reason) {
        cells[reason]!.value.wrappingAdd(1, ordering: .relaxed)
    }

    public subscript(reason: Reason) -> UInt64 {
        cells[reason]!.value.load(ordering: .relaxed)
    }

    /// One counter sample per reason, in the order of `Reason.allCases`, the reason under `label`.
    public func samples(name: String, help: String, label: String = "reason") -> [MetricSample] {
        Reason.allCases.map { reason in
            MetricSample(name: name, help: help, kind: .counter, labels: [.init(label, reason.label)], value: Double(self[reason]))
        }
    }
}
