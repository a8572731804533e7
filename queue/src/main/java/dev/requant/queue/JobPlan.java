package dev.requant.queue;

import dev.requant.formats.gguf.FileType;
import java.nio.file.Path;
import java.util.List;

/**
 * A checked job: absolute paths, canonical types (and the quantizations asked for, with or without the imatrix), and
 * its steps in dependency order.
 */
public record JobPlan(Path source, SourceKind sourceKind, String modelName, Path outDir, List<FileType> types,
                      List<QuantTarget> targets, ImatrixMode imatrix, Path imatrixFile, Path calibration, int priority, int maxAttempts,
                      List<PlannedStep> steps) {
    public enum SourceKind { HF, GGUF }

    public enum ImatrixMode { NONE, AUTO, FILE }
}
