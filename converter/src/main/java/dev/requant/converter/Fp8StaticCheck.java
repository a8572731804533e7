package dev.requant.converter;

import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.gguf.GgufTensorSpec;
import dev.requant.formats.model.ModelSource;
import dev.requant.formats.nvfp4.Fp8Linear;
import dev.requant.formats.safetensors.SafetensorsDtype;
import java.util.List;
import java.util.Optional;

/**
 * The static check of an FP8 weight (verify-fp4 on FP8 and MIXED_PRECISION checkpoints): every scale finite and
 * positive, no NaN code (E4M3 0x7F / 0xFF; E5M2 exponent all ones), every dequantized value finite, and, against a
 * reference, the same relative L2 / cosine limits as NVFP4 (FP8's error is far smaller, about 0.03).
 */
public final class Fp8StaticCheck {
    /** One FP8 weight: its GGUF name, granularity, scale range, NaN codes and error against the reference. */
    public record TensorReport(String name, long rows, long cols, String granularity, double minScale, double maxScale, long nanCodes,
            long nonFinite, double maxAbs, Nvfp4StaticCheck.ReferenceError reference) {}

    private Fp8StaticCheck() {}

    static TensorReport check(String gguf, Fp8Linear f, ModelSource reference, Nvfp4StaticCheck.Thresholds th, List<Nvfp4StaticCheck.Problem> problems) {
        double min = Double.POSITIVE_INFINITY, max = 0;
        boolean badScale = false;
        for (float s : f.scales()) {
            if (!(Float.isFinite(s) && s > 0)) badScale = true;
            else {
                min = Math.min(min, s);
                max = Math.max(max, s);
            }
        }
        if (badScale) problems.add(new Nvfp4StaticCheck.Problem(Nvfp4StaticCheck.Level.FAIL, gguf, "has FP8 scales that are not finite and positive"));
        long nan = 0;
        for (long r = 0; r < f.rows(); r++) {
            for (long c = 0; c < f.cols(); c++) {
                int b = f.code(r, c);
                boolean isNan = f.dtype() == SafetensorsDtype.F8_E4M3 ? (b & 0x7F) == 0x7F : (b & 0x7C) == 0x7C;
                if (isNan) nan++;
            }
        }
        if (nan > 0) problems.add(new Nvfp4StaticCheck.Problem(Nvfp4StaticCheck.Level.FAIL, gguf, nan + " FP8 codes are NaN" + (f.dtype() == SafetensorsDtype.F8_E5M2 ? " or infinite" : "")));
        Optional<GgufTensorSpec> rs = reference == null ? Optional.empty() : reference.tensor(gguf);
        if (reference != null && rs.isEmpty()) problems.add(new Nvfp4StaticCheck.Problem(Nvfp4StaticCheck.Level.WARN, gguf, "the reference has no tensor of this name"));
        boolean withRef = rs.isPresent() && rs.get().nDims() >= 2 && rs.get().ne()[0] == f.cols() && rs.get().ne()[1] == f.rows();
        if (rs.isPresent() && !withRef) problems.add(new Nvfp4StaticCheck.Problem(Nvfp4StaticCheck.Level.FAIL, gguf, "shape differs from the reference's " + java.util.Arrays.toString(rs.get().ne())));
        float[] row = new float[(int) f.cols()], rrow = new float[(int) f.cols()];
        BlockCodec dec = withRef ? BlockCodec.of(rs.get().type()) : null;
        long refRowBytes = withRef ? rs.get().type().rowBytes(f.cols()) : 0;
        var refData = withRef ? reference.data(gguf) : null;
        long nonFinite = 0;
        double maxAbs = 0, dd = 0, rr = 0, qq = 0, qr = 0, dmax = 0;
        for (long r = 0; r < f.rows(); r++) {
            f.dequantizeRow(r, row, 0);
            if (withRef) dec.decode(refData, r * refRowBytes, rrow, 0, row.length);
            for (int i = 0; i < row.length; i++) {
                float q = row[i];
                if (!Float.isFinite(q)) {
                    nonFinite++;
                    continue;
                }
                maxAbs = Math.max(maxAbs, Math.abs(q));
                if (withRef) {
                    double d = q - (double) rrow[i];
                    dd += d * d;
                    rr += (double) rrow[i] * rrow[i];
                    qq += (double) q * q;
                    qr += (double) q * rrow[i];
                    dmax = Math.max(dmax, Math.abs(d));
                }
            }
        }
        if (nonFinite > 0) problems.add(new Nvfp4StaticCheck.Problem(Nvfp4StaticCheck.Level.FAIL, gguf, nonFinite + " dequantized values are not finite"));
        Nvfp4StaticCheck.ReferenceError ref = null;
        if (withRef) {
            ref = new Nvfp4StaticCheck.ReferenceError(rr > 0 ? Math.sqrt(dd / rr) : (dd > 0 ? Double.POSITIVE_INFINITY : 0), qq > 0 && rr > 0 ? qr / Math.sqrt(qq * rr) : 1, dmax);
            if (!(ref.relL2() <= th.maxRelL2())) problems.add(new Nvfp4StaticCheck.Problem(Nvfp4StaticCheck.Level.FAIL, gguf, String.format("relative L2 error %.4g against the reference (limit %.3g)", ref.relL2(), th.maxRelL2())));
            if (!(ref.cosine() >= th.minCosine())) problems.add(new Nvfp4StaticCheck.Problem(Nvfp4StaticCheck.Level.FAIL, gguf, String.format("cosine %.5f against the reference (limit %.3g)", ref.cosine(), th.minCosine())));
        }
        String g = f.granularity().name().toLowerCase(java.util.Locale.ROOT) + (f.blockRows() > 0 ? " " + f.blockRows() + "x" + f.blockCols() : "");
        return new TensorReport(gguf, f.rows(), f.cols(), g, min == Double.POSITIVE_INFINITY ? 0 : min, max, nan, nonFinite, maxAbs, ref);
    }
}
