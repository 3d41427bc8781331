import Foundation
import Synchronization

/// A fixed team of threads ("lanes") that runs one job at a time together with the caller: lane 0
/// is the calling thread, lanes 1… are workers started once. A job is a pointer to a value the
/// caller owns (a `LaneWork`) handed to the `perform` function every lane runs; nothing is
/// allocated per job, so training steps stay allocation-free. Workers spin briefly between jobs
/// (a step issues dozens back to back) and then sleep on a condition variable.
public final class LanePool: @unchecked Sendable {
    public let lanes: Int
    private let state: PoolState

    /// `perform(job, lane)` runs on every lane for every job.
    public init(lanes: Int, perform: @escaping @Sendable (UnsafeRawPointer, Int) -> Void) {
        precondition(lanes >= 1, "a pool needs at least one lane")
        self.lanes = lanes
        state = PoolState(perform: perform)
        for lane in 1..<max(lanes, 1) {
            let state = self.state
            let thread = Thread { state.workerLoop(lane: lane) }
            thread.name = "cnnc-lane-\(lane)"
            thread.start()
        }
    }

    deinit {
        state.stop()
    }

    /// Runs `perform(job, lane)` on every lane at once and returns when all have finished. `job`
    /// must stay valid until then.
    public func run(_ job: UnsafeRawPointer) {
        guard lanes > 1 else {
            state.perform(job, 0)
            return
        }
        state.publish(job, helpers: lanes - 1)
        state.perform(job, 0)
        state.waitForHelpers()
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
/// the pool alive: the pool's deinit stops them.
private final class PoolState: @unchecked Sendable {
    let perform: @Sendable (UnsafeRawPointer, Int) -> Void
    private let generation = Atomic<Int>(0)
    private let remaining = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    /// Points at the caller's job while one is in flight; published by the release on `generation`.
    private var job: UnsafeRawPointer?
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    private static let spins = 200_000

    init(perform: @escaping @Sendable (UnsafeRawPointer, Int) -> Void) {
        self.perform = perform
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&condition, nil)
    }

    func publish(_ job: UnsafeRawPointer, helpers: Int) {
        self.job = job
        remaining.store(helpers, ordering: .releasing)
        pthread_mutex_lock(&mutex)
        generation.wrappingAdd(1, ordering: .releasing)
        pthread_cond_broadcast(&condition)
        pthread_mutex_unlock(&mutex)
    }

    func waitForHelpers() {
        var spins = 0
        while remaining.load(ordering: .acquiring) != 0 {
            spins += 1
            if spins > PoolState.spins { sched_yield() }
        }
        job = nil
    }

    func stop() {
        pthread_mutex_lock(&mutex)
        stopping.store(true, ordering: .releasing)
        pthread_cond_broadcast(&condition)
        pthread_mutex_unlock(&mutex)
    }

    func workerLoop(lane: Int) {
        // Generation 0 is the pool's start, not whatever the counter holds when this thread first
        // runs: a job published before the thread got going must still be seen.
        var seen = 0
        while true {
            var spins = 0
            while generation.load(ordering: .acquiring) == seen {
                if stopping.load(ordering: .acquiring) { return }
                spins += 1
                if spins > PoolState.spins {
                    pthread_mutex_lock(&mutex)
                    while generation.load(ordering: .acquiring) == seen && !stopping.load(ordering: .acquiring) {
                        pthread_cond_wait(&condition, &mutex)
                    }
                    pthread_mutex_unlock(&mutex)
                }
            }
            seen = generation.load(ordering: .acquiring)
            if let job {
                perform(job, lane)
            }
            remaining.wrappingSubtract(1, ordering: .releasing)
        }
    }
}
