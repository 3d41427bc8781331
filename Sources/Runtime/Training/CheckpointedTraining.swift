import Foundation
import Graph
import Spec

// Training with checkpoints: `cnnc train` and every run of `cnnc sweep` (local, `--run-index`,
// Slurm array tasks) go through `Trainer.runCheckpointed` and `Trainer.resume`, so a run of
// either kind is checkpointed, stopped and continued the same way (see Checkpoint.swift).

/// Where a run was continued from: the epoch in progress (1-based) and the steps of it done when
/// the checkpoint was written (`epoch` E, `step` 0: E − 1 epochs done).
public struct ResumePoint: Hashable, Sendable {
    public var epoch: Int
    public var step: Int

    public init(epoch: Int, step: Int) {
        self.epoch = epoch
        self.step = step
    }

    /// `epoch 2, step 0`.
    public var description: String { "epoch \(epoch), step \(step)" }
}

/// `resumed_from` in summary.json and a sweep run's run.json: one entry per resume, oldest first.
public func resumePointsJSON(_ points: [ResumePoint]) -> JSON {
    .array(points.map { .object([("epoch", .int($0.epoch)), ("step", .int($0.step))]) })
}

extension Trainer {
    /// Continues from `checkpoint` (see `restore`) and records where, so the run's records say
    /// that it was resumed and from which epoch and step.
    public func resume(from checkpoint: TrainingCheckpoint) throws {
        try restore(checkpoint)
        position.resumedFrom.append(ResumePoint(epoch: checkpoint.position.epoch, step: checkpoint.position.step))
    }

    /// Trains from `position` to the configured epochs, writing `directory/checkpoint/` (as
    /// `identity`, with the trainer's settings) and `directory/metrics.jsonl` at the end of every
    /// epoch, after `epochEnd`, and once more when `shouldStop` stops the run after a step. A
    /// failed write ends the run with its error; the previous checkpoint stays complete.
    /// Returns the result and the seconds each checkpoint took to write.
    public func runCheckpointed(run identity: CheckpointedRun, directory: String, progressEvery: Int = 25,
                                progress: (TrainingProgress) -> Void = { _ in },
                                epochEnd: (_ reports: [EpochReport]) -> Void = { _ in },
                                shouldStop: () -> Bool) throws -> (result: TrainingResult, checkpointSeconds: [Double]) {
        var checkpointSeconds: [Double] = []
        let result = try run(
            progressEvery: progressEvery, progress: progress, epochEnd: epochEnd,
            checkpoint: { trainer in
                let start = now()
                try writeCheckpoint(trainer.checkpoint(run: identity), runDirectory: directory)
                checkpointSeconds.append(now() - start)
                try writeMetrics(epochs: trainer.position.reports, steps: trainer.position.stepRecords, directory: directory)
            },
            shouldStop: shouldStop)
        return (result, checkpointSeconds)
    }
}

/// True when `runDirectory` holds a complete checkpoint (its manifest; whether it is sound is
/// checked when it is read).
public func hasCheckpoint(_ runDirectory: String) -> Bool {
    FileManager.default.fileExists(atPath: checkpointDirectory(runDirectory) + "/manifest.json")
}

/// The checkpoint in `runDirectory` when it is one of `identity`'s run (the spec's path aside: the
/// same sweep may be run again from another directory); nil when there is none, or when it
/// belongs to another run (a sweep re-run with `--force` and other settings or values in the same
/// directory: that run is trained from the start, and its first checkpoint replaces the old
/// one). A damaged checkpoint is an error.
public func readCheckpointToContinue(runDirectory: String, identity: CheckpointedRun) throws -> TrainingCheckpoint? {
    guard hasCheckpoint(runDirectory) else { return nil }
    let checkpoint = try readCheckpoint(runDirectory: runDirectory)
    var expected = identity
    expected.specPath = checkpoint.run.specPath
    return checkpoint.run == expected ? checkpoint : nil
}
