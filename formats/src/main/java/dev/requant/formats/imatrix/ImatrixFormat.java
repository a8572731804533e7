package dev.requant.formats.imatrix;

import java.nio.file.Path;

/** The two file formats llama.cpp reads and writes for importance matrices. */
public enum ImatrixFormat {
    /** GGUF with general.type=imatrix and {@code <weight>.in_sum2} / {@code <weight>.counts} tensors (the default since 2025). */
    GGUF,
    /** The legacy headerless .dat file of llama-imatrix --output-format dat. */
    DAT;

    /** The format a file name suggests: .dat is legacy, anything else GGUF (llama-imatrix's default). */
    public static ImatrixFormat forFileName(Path p) {
        String n = p.getFileName() == null ? "" : p.getFileName().toString().toLowerCase(java.util.Locale.ROOT);
        return n.endsWith(".dat") ? DAT : GGUF;
    }
}
