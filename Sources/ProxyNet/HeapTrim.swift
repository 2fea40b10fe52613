import CMalloc
import Logging
import ServiceLifecycle

/// Gives the memory the C allocator holds free back to the system. glibc keeps what a burst of
/// connections freed in its arenas, fragmented, so the heap never shrinks from its top: after a
/// flood of 10,000 junk connections the process stays tens of MB larger than before although
/// the heap in use is back where it was. Every `interval`, when the allocator holds `threshold`
/// more free bytes than after the last trim, `malloc_trim` returns the free pages (a walk of the
/// arenas' free lists; nothing runs per connection or per packet). Trimmed pages stay counted as
/// free by the allocator, hence the comparison with the figure at the last trim.
public struct HeapTrim: Service {
    public let interval: Duration
    public let threshold: Int
    let logger: Logger

    public init(interval: Duration = .seconds(10), threshold: Int = 8 << 20, logger: Logger) {
        self.interval = interval
        self.threshold = threshold
        self.logger = logger
    }

    /// Bytes the allocator holds free in all arenas (0 where unknown).
    public static var freeBytes: Int { Int(cmalloc_free_bytes()) }

    /// Returns the free pages of every arena to the system.
    public static func trim() { cmalloc_trim() }

    /// Whether to trim with `free` bytes free now and `atLastTrim` after the last trim.
    public static func worthTrimming(free: Int, atLastTrim: Int, threshold: Int) -> Bool {
        free > atLastTrim + threshold
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            var atLastTrim = 0
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                let free = Self.freeBytes
                if Self.worthTrimming(free: free, atLastTrim: atLastTrim, threshold: threshold) {
                    Self.trim()
                    atLastTrim = free
                    logger.debug("returned free heap memory to the system", metadata: ["free_bytes": "\(free)"])
                } else {
                    // Reuse lowers the figure; what is freed later is measured from there.
                    atLastTrim = min(atLastTrim, free)
                }
            }
        }
    }
}
