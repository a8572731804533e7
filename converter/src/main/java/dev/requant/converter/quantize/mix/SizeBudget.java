package dev.requant.converter.quantize.mix;

import java.util.Locale;

/**
 * A mix's size target: bits per weight (tensor bytes · 8 / weights, as llama-quantize's "quant size" line counts) or
 * a file size (the whole GGUF: header, tensors and their alignment padding).
 */
public sealed interface SizeBudget {
    record BitsPerWeight(double bpw) implements SizeBudget {
        public BitsPerWeight {
            if (!(bpw > 0) || Double.isInfinite(bpw)) throw new IllegalArgumentException("--target-bpw must be a positive number, got " + bpw);
        }

        @Override public String toString() { return String.format(Locale.ROOT, "%.4g BPW", bpw); }
    }

    record FileBytes(long bytes) implements SizeBudget {
        public FileBytes {
            if (bytes <= 0) throw new IllegalArgumentException("--target-size must be positive, got " + bytes);
        }

        @Override public String toString() { return String.format(Locale.ROOT, "%d bytes (%.2f MiB)", bytes, bytes / 1048576.0); }
    }

    /**
     * The most tensor bytes (each padded to the alignment) the output may hold.
     *
     * @param elements the weights of every tensor of the model
     * @param headerBytes the GGUF header with its padding to the data section
     */
    default long tensorBytes(long elements, long headerBytes) {
        return switch (this) {
            case BitsPerWeight b -> (long) Math.floor(b.bpw() * elements / 8.0);
            case FileBytes f -> f.bytes() - headerBytes;
        };
    }

    /** Whether the budget counts padded tensor bytes (a file size) or plain ones (BPW). */
    default boolean padded() { return this instanceof FileBytes; }

    /**
     * Parses a size: a number of bytes with an optional suffix K, M, G or T (powers of 1024, as {@code ls -h} prints;
     * an optional trailing "iB" or "B" is the same), e.g. {@code 6.5G}, {@code 700M}, {@code 123456789}.
     */
    static FileBytes parseSize(String s) {
        String t = s.trim().toUpperCase(Locale.ROOT);
        if (t.endsWith("IB")) t = t.substring(0, t.length() - 2);
        else if (t.endsWith("B")) t = t.substring(0, t.length() - 1);
        long mult = 1;
        if (!t.isEmpty()) {
            int p = "KMGT".indexOf(t.charAt(t.length() - 1));
            if (p >= 0) {
                mult = 1L << (10 * (p + 1));
                t = t.substring(0, t.length() - 1);
            }
        }
        double v;
        try {
            v = Double.parseDouble(t);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--target-size: '" + s + "' is not a size (e.g. 6.5G, 700M, 123456789)");
        }
        if (!(v > 0) || Double.isInfinite(v)) throw new IllegalArgumentException("--target-size must be positive, got '" + s + "'");
        return new FileBytes((long) Math.floor(v * mult));
    }
}
