import Dispatch
import Foundation

/// Runs `body` over `0..<count` on `workers` threads, each worker getting its own `state`
/// from `makeState` (a libgit2 handle, a read buffer). Items are taken in `order` when given
/// (a permutation of the indices), else in index order; results land at their index, so the
/// output never depends on order or scheduling. The first error thrown by any worker is rethrown.
///
/// Workers write straight into the result array's storage: a million results are never held
/// twice.
func parallelMap<State, Result: Sendable>(
    count: Int, workers: Int, order: [Int]? = nil,
    makeState: @Sendable () throws -> State,
    progress: ProgressHandler?,
    _ body: @Sendable (inout State, Int) throws -> Result
) throws -> [Result] {
    let failure = FirstError()
    let batch = 16
    let results = [Result](unsafeUninitializedCapacity: count) { buffer, initializedCount in
        let slots = Slots(buffer)
        let workerCount = max(1, min(workers, count))
        let next = Counter()
        let done = Counter()
        DispatchQueue.concurrentPerform(iterations: workerCount) { _ in
            var state: State
            do { state = try makeState() } catch { failure.record(error); return }
            // Items are claimed a batch at a time: fewer lock round trips, and in pack order a
            // worker's reads stay close together.
            while !failure.happened {
                let start = next.add(batch) - batch
                if start >= count { break }
                let end = min(start + batch, count)
                for position in start..<end {
                    let index = order?[position] ?? position
                    do {
                        slots.set(index, try body(&state, index))
                    } catch {
                        failure.record(error)
                        return
                    }
                }
                if let progress {
                    let finished = done.add(end - start)
                    if finished / 1024 != (finished - (end - start)) / 1024 || finished == count { progress(finished, count) }
                }
            }
        }
        if failure.happened {
            slots.deinitializeWritten()
            initializedCount = 0
        } else {
            initializedCount = count
        }
    }
    if let error = failure.error { throw error }
    return results
}

/// The result storage shared by the workers; each index is written by exactly one worker.
private final class Slots<Result>: @unchecked Sendable {
    private let buffer: UnsafeMutableBufferPointer<Result>
    private var written: [Bool]
    private let lock = NSLock()

    init(_ buffer: UnsafeMutableBufferPointer<Result>) {
        self.buffer = buffer
        written = [Bool](repeating: false, count: buffer.count)
    }

    func set(_ index: Int, _ value: Result) {
        (buffer.baseAddress! + index).initialize(to: value)
        lock.withLock { written[index] = true }
    }

    /// After a failure: releases what the workers wrote, so the storage can be dropped.
    func deinitializeWritten() {
        for index in written.indices where written[index] { (buffer.baseAddress! + index).deinitialize(count: 1) }
    }
}

private final class FirstError: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var error: Error?
    var happened: Bool { lock.withLock { error != nil } }
    func record(_ error: Error) { lock.withLock { if self.error == nil { self.error = error } } }
}

private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    /// Adds `n` and returns the new value.
    func add(_ n: Int) -> Int { lock.withLock { value += n; return value } }
}

/// The number of workers to use by default: one per core.
public var defaultWorkerCount: Int { ProcessInfo.processInfo.activeProcessorCount }
