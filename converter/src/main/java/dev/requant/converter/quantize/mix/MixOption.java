package dev.requant.converter.quantize.mix;

import dev.requant.formats.ggml.GgmlType;

/**
 * One type a tensor can take in a mix, with what it costs: its exact size in the output and the damage measured.
 *
 * @param requested the type named in the recipe ({@code PATTERN=TYPE}); llama-quantize's row-size fallback may turn
 *     it into another {@code output} type, which is what the bytes and the measurement are of
 * @param lattice Q4_0 written through lattice recovery (a QAT tensor's trained codes and scales) instead of
 *     llama.cpp's Q4_0 encoder
 * @param bytes the tensor's size in the output
 * @param kld the model's mean KLD from the reference on the calibration chunks with only this tensor in this type, or
 *     NaN when it was not measured (proxy mode)
 * @param weightedError the importance-weighted squared error of the tensor, Σ_rows Σ_j imp[j]·(w - q)² (imp = 1
 *     without an imatrix entry)
 */
public record MixOption(GgmlType requested, GgmlType output, boolean lattice, long bytes, double kld, double weightedError) {
    /** How the option is named in tables, JSON and --allow-types: the ggml type name, with "@lattice" for the lattice. */
    public String label() {
        return requested.ggmlName() + (lattice ? LATTICE_SUFFIX : "");
    }

    public static final String LATTICE_SUFFIX = "@lattice";

    public boolean measured() { return !Double.isNaN(kld); }

    public MixOption withKld(double k) {
        return new MixOption(requested, output, lattice, bytes, k, weightedError);
    }
}
