package dev.requant.queue;

import dev.requant.formats.gguf.FileType;
import dev.requant.queue.exec.StepKind;
import java.nio.file.Path;
import java.util.List;

/**
 * One step of a checked job, before it is stored: identified by its output path (steps of several jobs with the same
 * output are one step). {@code dependsOn} names the outputs of the steps that must be done first.
 */
public record PlannedStep(StepKind kind, FileType type, Path input, Path imatrix, Path calibration, Path output,
                          List<Path> dependsOn) {}
