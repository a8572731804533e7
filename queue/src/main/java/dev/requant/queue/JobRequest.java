package dev.requant.queue;

import java.nio.file.Path;
import java.util.List;

/**
 * What `requant queue add` asks for, as typed: not yet checked ({@link JobPlanner} checks and expands it).
 *
 * @param source      a Hugging Face folder or a GGUF file
 * @param types       quant type names (llama-quantize names, any case)
 * @param imatrix     "auto" (compute one from the base over {@code calibration}), "none", or an imatrix file
 * @param calibration the calibration text for imatrix "auto"
 * @param outDir      where outputs go (created if missing)
 * @param priority    higher runs first
 * @param maxAttempts attempts per step before it is failed
 */
public record JobRequest(Path source, List<String> types, String imatrix, Path calibration, Path outDir, int priority,
                         int maxAttempts) {
    public static final int DEFAULT_MAX_ATTEMPTS = 3;
}
