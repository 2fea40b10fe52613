import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

extension Process {
    /// Starts the process from a thread with no blocked signals, so that the child starts with
    /// none blocked either. Tests run on Swift concurrency (libdispatch) threads, which block
    /// signals; a child spawned from one inherits that mask and never sees the SIGTERM a test
    /// sends to end it cleanly (only SIGKILL gets through).
    func runWithDefaultSignalMask() throws {
        let started = Mutex<Result<Void, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        let process = UncheckedProcess(process: self)
        Thread.detachNewThread {
            var none = sigset_t()
            sigemptyset(&none)
            pthread_sigmask(SIG_SETMASK, &none, nil)
            let result = Result { try process.process.run() }
            started.withLock { $0 = result }
            done.signal()
        }
        done.wait()
        try started.withLock { $0! }.get()
    }
}

/// A Process handed to the spawning thread (Foundation's Process is not Sendable; the caller
/// waits for that thread before it touches the process again).
private struct UncheckedProcess: @unchecked Sendable {
    let process: Process
}
