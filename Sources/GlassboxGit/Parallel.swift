import Dispatch
import Foundation

/// Runs `body` over `0..<count` on `workers` threads, each worker getting its own `state`
/// from `makeState` (a libgit2 handle, a read buffer). Items are taken in `order` when given
/// (a permutation of the indices), else in index order; results land at their index, so the
/// output never depends on order or scheduling. The first error thrown by any worker is rethrown.
func parallelMap<State, Result: Sendable>(
    count: Int, workers: Int, order: [Int]? = nil,
    makeState: @Sendable () throws -> State,
    progress: ProgressHandler?,
    _ body: @Sendable (inout State, Int) throws -> Result
) throws -> [Result] {
    let slots = Slots<Result>(count: count)
    let workerCount = max(1, min(workers, count))
    let next = Counter()
    let done = Counter()
    DispatchQueue.concurrentPerform(iterations: workerCount) { _ in
        var state: State
        do { state = try makeState() } catch { slots.fail(error); return }
        while !slots.failed {
            let position = next.increment() - 1
            if position >= count { break }
            let index = order?[position] ?? position
            do {
                slots.set(index, try body(&state, index))
            } catch {
                slots.fail(error)
                return
            }
            let finished = done.increment()
            if let progress, finished % 1024 == 0 || finished == count { progress(finished, count) }
        }
    }
    return try slots.collect()
}

/// Write-once result slots shared by the workers; each index is written by exactly one worker.
private final class Slots<Result>: @unchecked Sendable {
    private var storage: UnsafeMutableBufferPointer<Result?>
    private let lock = NSLock()
    private var error: Error?
    private let count: Int

    init(count: Int) {
        self.count = count
        storage = .allocate(capacity: count)
        storage.initialize(repeating: nil)
    }

    deinit {
        storage.deinitialize()
        storage.deallocate()
    }

    var failed: Bool { lock.withLock { error != nil } }

    func set(_ index: Int, _ value: Result) { storage[index] = value }

    func fail(_ error: Error) { lock.withLock { if self.error == nil { self.error = error } } }

    func collect() throws -> [Result] {
        if let error { throw error }
        return storage.map { $0! }
    }
}

private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func increment() -> Int { lock.withLock { value += 1; return value } }
}

/// The number of workers to use by default: one per core.
public var defaultWorkerCount: Int { ProcessInfo.processInfo.activeProcessorCount }
