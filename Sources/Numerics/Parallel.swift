import Dispatch

/// Splits work across the machine's cores with plain, synchronous fork-join.
///
/// OpenBLAS's own threads spin (`sched_yield`) between the many small products of a
/// training step and verification pass; splitting rows ourselves, with OpenBLAS on one
/// thread, keeps both cores busy with real work. Results do not depend on the worker
/// count: every output element is computed by exactly one worker, in the same order.
public enum Parallel {
    /// Number of workers (default: active cores; `--threads` sets it). `KernelPool.shared` follows it.
    nonisolated(unsafe) public static var workers = max(1, min(ProcessInfo.activeProcessorCountSafe, 64))

    /// Calls `body` once per chunk of `0..<count`, chunks spread over the workers; returns when all are done.
    /// Chunks smaller than `minimumChunk` are not split further.
    public static func chunks(_ count: Int, minimumChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        let parts = min(workers, max(1, count / max(minimumChunk, 1)))
        if parts <= 1 { body(0..<count); return }
        withoutActuallyEscaping(body) { escaping in
            let box = UncheckedBox(escaping)
            DispatchQueue.concurrentPerform(iterations: parts) { p in
                let lower = count * p / parts, upper = count * (p + 1) / parts
                if lower < upper { box.value(lower..<upper) }
            }
        }
    }

    /// Calls `body(i)` for every `i` in `0..<count`, spread over the workers.
    public static func forEach(_ count: Int, _ body: (Int) -> Void) {
        chunks(count) { range in for i in range { body(i) } }
    }
}

/// Carries a non-Sendable value into a fork-join region whose workers finish before it returns.
struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

import Foundation

extension ProcessInfo {
    /// Active processor count, read once.
    static let activeProcessorCountSafe = ProcessInfo.processInfo.activeProcessorCount
}
