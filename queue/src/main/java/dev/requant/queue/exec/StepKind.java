package dev.requant.queue.exec;

import java.util.Locale;

/** What a step does. A job expands to one CONVERT (HF sources), at most one IMATRIX, and one QUANTIZE per type. */
public enum StepKind {
    /** HF folder to a BF16 GGUF, the base every quantization of the source starts from. */
    CONVERT,
    /** Importance matrix of the base model over a calibration text. */
    IMATRIX,
    /** The base model to one quantization type, with the imatrix when the job has one. */
    QUANTIZE;

    /** The name stored in the database and shown by {@code queue status}. */
    public String label() { return name().toLowerCase(Locale.ROOT); }

    public static StepKind ofLabel(String label) { return valueOf(label.toUpperCase(Locale.ROOT)); }
}
