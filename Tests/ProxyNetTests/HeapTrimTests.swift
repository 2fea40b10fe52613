import Foundation
import Testing

@testable import ProxyNet

@Suite struct HeapTrimTests {
    /// Resident KiB of this process.
    static func rssKiB() -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }

    /// 96 MiB in 16 KiB blocks of which every other one is freed: the free half cannot merge
    /// into the heap's top, so its pages stay resident until a trim.
    @Test func aFragmentedHeapGoesBackToTheSystem() {
        let count = 6_144
        var blocks: [UnsafeMutableRawPointer] = []
        blocks.reserveCapacity(count)
        for _ in 0..<count {
            let p = malloc(16384)!
            memset(p, 0xA5, 16384)
            blocks.append(p)
        }
        for i in stride(from: 1, to: count, by: 2) { free(blocks[i]) }
        defer { for i in stride(from: 0, to: count, by: 2) { free(blocks[i]) } }
        let before = Self.rssKiB()
        #expect(HeapTrim.freeBytes >= 40 << 20, "the freed blocks are held by the allocator: \(HeapTrim.freeBytes)")
        HeapTrim.trim()
        let after = Self.rssKiB()
        #expect(before - after >= 24 * 1024, "RSS \(before) -> \(after) KiB")
    }

    @Test func trimsOnlyWhenMuchMoreIsFreeThanAfterTheLastTrim() {
        #expect(HeapTrim.worthTrimming(free: 20 << 20, atLastTrim: 0, threshold: 8 << 20))
        #expect(!HeapTrim.worthTrimming(free: 20 << 20, atLastTrim: 13 << 20, threshold: 8 << 20))
        #expect(!HeapTrim.worthTrimming(free: 8 << 20, atLastTrim: 0, threshold: 8 << 20))
    }
}
