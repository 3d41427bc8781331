import Foundation
import Graph
import Spec
import Synchronization

/// A fixed team of threads ("lanes") that runs one job at a time together with the caller: lane 0
/// is the calling thread, lanes 1… are workers started once. A job is a pointer to a value the
/// caller owns (a `LaneJob`) and a number of work items; every thread claims items from a shared
/// counter until none are left, so a thread the machine deschedules for a while leaves its items
/// to the others instead of holding the step up. Which thread runs an item never changes what the
/// item computes (per-lane scratch aside), so results depend only on the number of items. Nothing
/// is allocated per job. Workers spin briefly between jobs (a step issues dozens back to back) and
/// then sleep on a condition variable.
public final class LanePool: @unchecked Sendable {
    /// The lanes the pool was made for (each owns a scratch region of the plan).
    public let lanes: Int
    /// Threads running jobs, the caller included: `lanes`, unless a worker thread could not be
    /// started (then `startFailure` says why, and the threads that run share all work items).
    public let threads: Int
    public let startFailure: String?
    private let state: PoolState

    /// `perform(job, item, lane)` runs once for every work item of every job, on some lane.
    public init(lanes: Int, perform: @escaping @Sendable (UnsafeRawPointer, Int, Int) -> Void) {
        precondition(lanes >= 1, "a pool needs at least one lane")
        self.lanes = lanes
        state = PoolState(perform: perform)
        var started = 1
        var failure: String?
        for lane in 1..<max(lanes, 1) {
            let error = state.startWorker(lane: lane)
            if error != 0 {
                failure = "could not start thread \(lane + 1) of \(lanes): \(String(cString: strerror(error)))"
                break
            }
            started += 1
        }
        threads = started
        startFailure = failure
    }

    deinit {
        state.stop()
    }

    /// Runs `perform(job, item, lane)` for items 0..<tasks on the lanes and returns when all have
    /// finished. `job` must stay valid until then.
    public func run(_ job: UnsafeRawPointer, tasks: Int) {
        guard threads > 1 && tasks > 1 else {
            for task in 0..<tasks { state.perform(job, task, 0) }
            return
        }
        state.publish(job, tasks: tasks)
        state.claimAndRun(lane: 0)
        state.waitForCompletion(tasks: tasks)
    }
}

/// The part of 0..<count that `lane` of `lanes` takes.
@inline(__always)
public func laneShare(of count: Int, lane: Int, lanes: Int) -> Range<Int> {
    let base = count / lanes
    let extra = count % lanes
    let start = lane * base + min(lane, extra)
    return start..<(start + base + (lane < extra ? 1 : 0))
}

/// What the workers share with the caller. Kept apart from `LanePool` so the threads do not keep
/// the pool alive: the pool's deinit stops them, and the last worker to exit frees this.
private final class PoolState: @unchecked Sendable {
    let perform: @Sendable (UnsafeRawPointer, Int, Int) -> Void
    /// Generation (high 32 bits) and next unclaimed work item (low 32 bits) of the current job.
    /// A work item is claimed by a compare-and-swap that also checks the generation.
    private let claim = Atomic<UInt64>(0)
    private let taskCount = Atomic<Int>(0)
    private let completed = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    /// The caller's job while one is in flight; published by the release on `claim`.
    private let job = Atomic<UInt>(0)
    /// Allocated explicitly: pthread objects must not move, and Swift gives stored properties no
    /// stable address.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    private static let spins = 100_000

    init(perform: @escaping @Sendable (UnsafeRawPointer, Int, Int) -> Void) {
        self.perform = perform
        mutex = .allocate(capacity: 1)
        condition = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Starts the thread of `lane`; returns 0 or the error number of `pthread_create`.
    func startWorker(lane: Int) -> Int32 {
        let context = Unmanaged.passRetained(WorkerContext(state: self, lane: lane)).toOpaque()
        var thread = pthread_t()
        let error = pthread_create(&thread, nil, { raw in
            let context = Unmanaged<WorkerContext>.fromOpaque(raw!).takeRetainedValue()
            context.state.workerLoop(lane: context.lane)
            return nil
        }, context)
        if error != 0 {
            Unmanaged<WorkerContext>.fromOpaque(context).release()
            return error
        }
        pthread_detach(thread)
        return 0
    }

    func publish(_ job: UnsafeRawPointer, tasks: Int) {
        self.job.store(UInt(bitPattern: job), ordering: .relaxed)
        taskCount.store(tasks, ordering: .relaxed)
        completed.store(0, ordering: .relaxed)
        let generation = (claim.load(ordering: .relaxed) >> 32) &+ 1
        claim.store(generation << 32, ordering: .sequentiallyConsistent)
        if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
            pthread_mutex_lock(mutex)
            pthread_cond_broadcast(condition)
            pthread_mutex_unlock(mutex)
        }
    }

    /// Claims and runs work items of the current generation until none are left. Returns the
    /// generation it saw.
    @discardableResult
    func claimAndRun(lane: Int) -> UInt64 {
        var current = claim.load(ordering: .acquiring)
        let generation = current >> 32
        while true {
            let tasks = taskCount.load(ordering: .relaxed)
            guard current >> 32 == generation, Int(current & 0xFFFF_FFFF) < tasks else { return generation }
            let (exchanged, original) = claim.compareExchange(expected: current, desired: current + 1,
                                                              ordering: .acquiringAndReleasing)
            guard exchanged else {
                current = original
                continue
            }
            // The job of this generation stays in place until every claimed item is done.
            let pointer = UnsafeRawPointer(bitPattern: job.load(ordering: .relaxed))!
            perform(pointer, Int(current & 0xFFFF_FFFF), lane)
            completed.wrappingAdd(1, ordering: .releasing)
            current = claim.load(ordering: .acquiring)
        }
    }

    func waitForCompletion(tasks: Int) {
        var spins = 0
        while completed.load(ordering: .acquiring) != tasks {
            spins += 1
            if spins > PoolState.spins { sched_yield() }
        }
    }

    func stop() {
        pthread_mutex_lock(mutex)
        stopping.store(true, ordering: .sequentiallyConsistent)
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
    }

    func workerLoop(lane: Int) {
        // Generation 0 is the pool's start: a job published before this thread got going is seen.
        var seen: UInt64 = 0
        while true {
            var spins = 0
            while claim.load(ordering: .acquiring) >> 32 == seen {
                if stopping.load(ordering: .acquiring) { return }
                spins += 1
                if spins > PoolState.spins {
                    pthread_mutex_lock(mutex)
                    sleepers.wrappingAdd(1, ordering: .sequentiallyConsistent)
                    while claim.load(ordering: .sequentiallyConsistent) >> 32 == seen
                        && !stopping.load(ordering: .sequentiallyConsistent) {
                        pthread_cond_wait(condition, mutex)
                    }
                    sleepers.wrappingSubtract(1, ordering: .sequentiallyConsistent)
                    pthread_mutex_unlock(mutex)
                    spins = 0
                }
            }
            seen = claimAndRun(lane: lane)
        }
    }
}

private final class WorkerContext {
    let state: PoolState
    let lane: Int

    init(state: PoolState, lane: Int) {
        self.state = state
        self.lane = lane
    }
}
