import Foundation
import Graph
import Spec

/// Why a run's memory cannot be planned, or does not fit this machine. Both are found before
/// anything is allocated.
public enum PlanRefusal: Error, Equatable, CustomStringConvertible {
    /// A size from the spec or the command line is beyond what a plan can be made for.
    case tooLarge(String)
    /// The run needs `needed` bytes; this machine (or its memory limit) has `available`.
    case exceedsMemory(needed: Int, available: Int)

    public var description: String {
        switch self {
        case let .tooLarge(reason):
            return reason
        case let .exceedsMemory(needed, available):
            return "the run needs \(groupedThousands(needed)) bytes of memory but this machine has \(groupedThousands(available))"
        }
    }
}

extension TrainingPlans {
    /// Both plans of a run, refused with ``PlanRefusal/tooLarge(_:)`` when a batch size or the
    /// thread count is beyond ``BufferPlan/maxBatchSize``, ``BufferPlan/maxLanes`` or
    /// ``BufferPlan/maxPlanBytes`` (so planning cannot overflow).
    public static func checked(graph: Graph, settings: TrainingSettings) throws -> TrainingPlans {
        for batch in [settings.batchSize, settings.evaluationBatch] {
            if let problem = BufferPlan.sizeProblem(graph: graph, batchSize: batch, lanes: settings.threads) {
                throw PlanRefusal.tooLarge(problem)
            }
        }
        return TrainingPlans(graph: graph, settings: settings)
    }

    /// ``PlanRefusal/exceedsMemory(needed:available:)`` when the run's allocations plus
    /// `extraBytes` pass `available`, else nil.
    public func memoryProblem(graph: Graph, optimizer: OptimizerSettings, extraBytes: Int = 0,
                              available: Int = availableMemoryBytes()) -> PlanRefusal? {
        let needed = bytes(graph: graph, optimizer: optimizer) + extraBytes
        return needed > available ? .exceedsMemory(needed: needed, available: available) : nil
    }
}

/// The memory a process may use here: physical memory, or the cgroup's `memory.max` (a container's
/// limit) when that is lower.
public func availableMemoryBytes() -> Int {
    let physical = Int(clamping: ProcessInfo.processInfo.physicalMemory)
    guard let text = try? String(contentsOfFile: "/sys/fs/cgroup/memory.max", encoding: .utf8),
          let limit = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
        return physical  // no cgroup v2 limit file, or "max"
    }
    return min(physical, limit)
}
