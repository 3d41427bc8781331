import Dispatch
import Synchronization
import XCTest
@testable import Runtime
import Graph
import Spec

final class LanePoolTests: XCTestCase {
    /// Counts, per work item, how often the pool ran it.
    private final class Calls: @unchecked Sendable {
        let lane0 = Atomic<Int>(0)
        let lane1 = Atomic<Int>(0)
        let lane2 = Atomic<Int>(0)

        func record(_ lane: Int) {
            switch lane {
            case 0: lane0.wrappingAdd(1, ordering: .relaxed)
            case 1: lane1.wrappingAdd(1, ordering: .relaxed)
            default: lane2.wrappingAdd(1, ordering: .relaxed)
            }
        }
    }

    /// Runs `body` on another thread and fails instead of hanging if it takes over `seconds`.
    private func withinDeadline(_ seconds: Double, _ body: @escaping @Sendable () -> Void) {
        let done = DispatchSemaphore(value: 0)
        Thread {
            body()
            done.signal()
        }.start()
        XCTAssertEqual(done.wait(timeout: .now() + seconds), .success, "the pool hung")
    }

    /// A job published before the worker threads have started running completes, every work item
    /// once (a worker that took the generation counter as its start would miss it).
    func testJobsPublishedRightAfterCreationRunEveryItem() {
        let calls = Calls()
        withinDeadline(30) {
            for _ in 0..<300 {
                let pool = LanePool(lanes: 3) { _, task, _ in calls.record(task) }
                var token = 0
                withUnsafePointer(to: &token) { pool.run(UnsafeRawPointer($0), tasks: 3) }
            }
        }
        XCTAssertEqual(calls.lane0.load(ordering: .relaxed), 300)
        XCTAssertEqual(calls.lane1.load(ordering: .relaxed), 300)
        XCTAssertEqual(calls.lane2.load(ordering: .relaxed), 300)
    }

    /// Many jobs back to back, with pauses long enough for the workers to fall asleep: every work
    /// item of every job runs exactly once.
    func testEveryItemOfEveryJobRunsOnce() {
        let calls = Calls()
        let pool = LanePool(lanes: 2) { _, task, _ in calls.record(task) }
        withinDeadline(30) {
            var token = 0
            for job in 0..<2_000 {
                if job % 500 == 0 { Thread.sleep(forTimeInterval: 0.02) }
                withUnsafePointer(to: &token) { pool.run(UnsafeRawPointer($0), tasks: 2) }
            }
        }
        XCTAssertEqual(calls.lane0.load(ordering: .relaxed), 2_000)
        XCTAssertEqual(calls.lane1.load(ordering: .relaxed), 2_000)
    }

    /// More work items than lanes, and a lane that stalls: the other lanes take its items, each
    /// item still runs once, and an item's lane is one of the pool's.
    func testItemsAreSharedWhenALaneStalls() {
        let calls = Calls()
        let lanesSeen = Atomic<Int>(0)
        let pool = LanePool(lanes: 3) { _, task, lane in
            if lane == 1 && task % 7 == 0 { usleep(2_000) }
            calls.record(task % 3)
            lanesSeen.bitwiseOr(1 << lane, ordering: .relaxed)
        }
        XCTAssertEqual(pool.threads, 3)
        XCTAssertNil(pool.startFailure)
        withinDeadline(30) {
            var token = 0
            for _ in 0..<200 {
                withUnsafePointer(to: &token) { pool.run(UnsafeRawPointer($0), tasks: 9) }
            }
        }
        XCTAssertEqual(calls.lane0.load(ordering: .relaxed), 600)
        XCTAssertEqual(calls.lane1.load(ordering: .relaxed), 600)
        XCTAssertEqual(calls.lane2.load(ordering: .relaxed), 600)
        XCTAssertEqual(lanesSeen.load(ordering: .relaxed) & ~0b111, 0)
    }

    func testSharesCoverTheRangeWithoutGaps() {
        for lanes in 1...4 {
            for count in [0, 1, 5, 31, 32, 1_000] {
                let shares = (0..<lanes).map { laneShare(of: count, lane: $0, lanes: lanes) }
                XCTAssertEqual(shares.first?.lowerBound, 0)
                XCTAssertEqual(shares.last?.upperBound, count)
                for (a, b) in zip(shares, shares.dropFirst()) {
                    XCTAssertEqual(a.upperBound, b.lowerBound)
                }
                XCTAssertLessThanOrEqual((shares.map(\.count).max() ?? 0) - (shares.map(\.count).min() ?? 0), 1)
            }
        }
    }
}
