package dev.requant.converter.quantize;

import dev.requant.formats.imatrix.Imatrix;
import dev.requant.formats.imatrix.ImatrixFilter;
import dev.requant.formats.imatrix.ImatrixImportance;
import dev.requant.formats.imatrix.ImatrixReader;
import java.io.IOException;
import java.nio.file.Path;

/**
 * An importance matrix for quantization: the per-column weights (llama-quantize's load_imatrix + prepare_imatrix,
 * include/exclude filters applied) and the file name as the user gave it, which llama-quantize records in
 * quantize.imatrix.file.
 */
public record ImatrixInput(String fileAsGiven, ImatrixImportance importance) {
    /** Reads a GGUF or legacy .dat imatrix and normalizes it as llama-quantize does. */
    public static ImatrixInput load(Path file, String fileAsGiven, ImatrixFilter filter) throws IOException {
        Imatrix im = ImatrixReader.read(file);
        return new ImatrixInput(fileAsGiven, ImatrixImportance.of(im, filter, file));
    }

    public static ImatrixInput load(Path file, ImatrixFilter filter) throws IOException {
        return load(file, file.toString(), filter);
    }
}
