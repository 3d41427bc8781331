import ArgumentParser
import Graph
import Runtime
import Spec

/// The plans of a run, made only when every size is within the planner's bounds and the run fits
/// this machine's memory; otherwise prints why, with the numbers, and exits 1 before allocating.
/// `extraBytes` (what the command allocates besides the network) is computed only once the sizes
/// are known to be in bounds.
func plansThatFit(graph: Graph, settings: TrainingSettings, file: String,
                  extraBytes: @autoclosure () -> Int = 0) throws -> TrainingPlans {
    do {
        let plans = try TrainingPlans.checked(graph: graph, settings: settings)
        if let problem = plans.memoryProblem(graph: graph, optimizer: settings.optimizer, extraBytes: extraBytes()) {
            throw problem
        }
        return plans
    } catch let refusal as PlanRefusal {
        printError("\(file): error: \(rendered(refusal))")
        printError("hint: lower --batch-size or --threads (`cnnc check --batch-size B --threads T` shows a plan's memory)")
        throw ExitCode.failure
    }
}

/// `check`'s reading: nil when the plans can be made (a plan larger than memory is a warning,
/// printed here); an error (printed) when a size is beyond the planner's bounds.
func checkPlanSizes(graph: Graph, settings: TrainingSettings, file: String) -> Bool {
    do {
        let plans = try TrainingPlans.checked(graph: graph, settings: settings)
        if let problem = plans.memoryProblem(graph: graph, optimizer: settings.optimizer) {
            printError("\(file): warning: \(rendered(problem)); `train` and `bench` will refuse this plan")
        }
        return true
    } catch {
        printError("\(file): error: \(error)")
        return false
    }
}

func rendered(_ refusal: PlanRefusal) -> String {
    switch refusal {
    case let .tooLarge(reason):
        return reason
    case let .exceedsMemory(needed, available):
        return "the run needs \(formatBytes(needed)) of memory (\(groupedThousands(needed)) bytes) but this machine has "
            + "\(formatBytes(available)) (\(groupedThousands(available)) bytes)"
    }
}

/// `--batch-size` and `--threads` within what a plan can be made for (command-line misuse, exit 2).
func validatePlanFlags(batchSize: Int?, threads: Int?) throws {
    if let batchSize, batchSize > BufferPlan.maxBatchSize {
        throw ValidationError("--batch-size must be at most \(groupedThousands(BufferPlan.maxBatchSize)), got \(batchSize)")
    }
    if let threads, threads > BufferPlan.maxLanes {
        throw ValidationError("--threads must be at most \(groupedThousands(BufferPlan.maxLanes)), got \(threads)")
    }
}
