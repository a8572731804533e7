package dev.requant.queue.exec;

import dev.requant.formats.gguf.FileType;
import java.nio.file.Path;
import java.util.Optional;

/**
 * The inputs and the output path of one step, by kind. {@link #output()} is where the executor writes the complete
 * file: a staging name beside the final output. The queue then syncs it, records its size and SHA-256, and renames it
 * to its final name ({@link StepContext#finalOutput()}), so an executor never has to care about half-written outputs,
 * but it may also write through {@code AtomicFile} or {@code GgufWriter} as usual.
 */
public sealed interface StepWork {
    StepKind kind();

    /** Where to write the result (a staging path; not the final name). */
    Path output();

    /** Converts a Hugging Face folder (config.json, *.safetensors, tokenizer files) to a BF16 GGUF. */
    record Convert(Path source, Path output) implements StepWork {
        @Override public StepKind kind() { return StepKind.CONVERT; }
    }

    /** Computes the importance matrix of {@code model} (a GGUF file) over the text in {@code calibration}. */
    record Imatrix(Path model, Path calibration, Path output) implements StepWork {
        @Override public StepKind kind() { return StepKind.IMATRIX; }
    }

    /** Quantizes {@code model} (a GGUF file, usually BF16) to {@code type}, with an importance matrix if present. */
    record Quantize(Path model, FileType type, Optional<Path> imatrix, Path output) implements StepWork {
        @Override public StepKind kind() { return StepKind.QUANTIZE; }
    }
}
