package dev.requant.converter;

import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.ggml.Float8;
import dev.requant.formats.gguf.GgufTensorSpec;
import dev.requant.formats.model.GemmaArch;
import dev.requant.formats.model.ModelSource;
import dev.requant.formats.nvfp4.BlockScaleCensus;
import dev.requant.formats.nvfp4.GlobalScale;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The static half of {@code verify-fp4}: what can be known about NVFP4 weights without running the model.
 * <ol>
 *   <li>Decodability: every block scale a finite, non-negative E4M3 value (0x7F/0xFF are NaN; a sign bit makes
 *       ModelOpt's dequantization negative and llama.cpp's UE4M3 reading positive), every per-tensor scale finite and
 *       positive, every dequantized value finite.</li>
 *   <li>Scale ranges: smallest and largest block scale, zero, subnormal and 448 counts (an amax export has a 448 in
 *       each fusion group); fused shards (q/k/v, gate/up) with different per-tensor scales (vLLM multiplies all by
 *       the largest).</li>
 *   <li>llama.cpp headroom: for weights whose {@code .scale} the pinned llama.cpp does not apply
 *       ({@link LlamaCppScaleUse}), the factor it runs them with, and whether Gemma 3's FFN then overflows: ffn_down's
 *       input reaches {@code f_gate · f_up · amax}, and its Q8_0 blocks store {@code amax/127} in FP16 (max 65504),
 *       so {@code f_gate · f_up · amax ≥ 127 · 65504} gives inf, then NaN. {@code amax} is ffn_down's calibrated input
 *       maximum ({@code input_scale · 2688}) when the checkpoint has one, else 127 (a budget of 2^16 for the factors).</li>
 *   <li>Error against a reference model (same GGUF names): relative L2, cosine similarity, max |Δ|.</li>
 * </ol>
 */
public final class Nvfp4StaticCheck {
    /** The Q8_0 activation limit of ggml's CPU backend: amax/127 must stay below FP16's 65504. */
    public static final double Q8_0_AMAX_LIMIT = 127.0 * 65504.0;

    public enum Level { OK, WARN, FAIL }

    /**
     * @param maxRelL2 largest relative L2 error against the reference (NVFP4 of Gaussian-like weights: about 0.09)
     * @param minCosine smallest cosine similarity against the reference
     * @param assumedFfnInputAmax ffn_down input maximum assumed when the checkpoint has no input_scale
     */
    public record Thresholds(double maxRelL2, double minCosine, double assumedFfnInputAmax) {
        public static final Thresholds DEFAULT = new Thresholds(0.25, 0.97, 127.0);
    }

    public record Problem(Level level, String tensor, String what) {}

    public record ReferenceError(double relL2, double cosine, double maxAbs) {}

    /**
     * What llama.cpp does with one weight.
     *
     * @param factor what llama.cpp multiplies this weight by: 1 when it applies the scale, else the inverse of the
     *     GGUF's scale (for a checkpoint: of requant convert's split)
     * @param upstreamFactor the same for convert_hf_to_gguf.py's split (checkpoints only; NaN for GGUFs)
     */
    public record LlamaCpp(String use, int shift, double factor, double upstreamFactor) {}

    public record TensorReport(String name, long rows, long cols, double weightScale, Double inputScale, long nanScales, long negativeScales,
            long zeroScales, long subnormalScales, long scalesAt448, double minScale, double maxScale, long nonFinite, double maxAbs,
            ReferenceError reference, LlamaCpp llamaCpp) {}

    /** @param fp8 the FP8 weights of a checkpoint (FP8 or MIXED_PRECISION), checked by {@link Fp8StaticCheck} */
    public record Report(String arch, boolean fromGguf, List<TensorReport> tensors, List<Problem> problems, Thresholds thresholds,
                         List<Fp8StaticCheck.TensorReport> fp8) {
        public Level verdict() {
            Level l = Level.OK;
            for (Problem p : problems) if (p.level().ordinal() > l.ordinal()) l = p.level();
            return l;
        }
    }

    private static final Pattern LAYER = Pattern.compile("blk\\.(\\d+)\\.(.+)\\.weight");

    private Nvfp4StaticCheck() {}

    /**
     * @param arch general.architecture of the model ("gemma3", "gemma4")
     * @param reference a model with the same GGUF tensor names (BF16 source), or null
     */
    public static Report run(String arch, List<Nvfp4View> views, ModelSource reference, Thresholds th) {
        return run(arch, views, Map.of(), reference, th);
    }

    /** @param fp8 a checkpoint's FP8 weights by GGUF name (empty for GGUFs, which hold them dequantized) */
    public static Report run(String arch, List<Nvfp4View> views, Map<String, dev.requant.formats.nvfp4.Fp8Linear> fp8, ModelSource reference, Thresholds th) {
        List<TensorReport> tensors = new ArrayList<>();
        List<Problem> problems = new ArrayList<>();
        boolean fromGguf = !views.isEmpty() && views.getFirst().fromGguf();
        if (views.isEmpty() && fp8.isEmpty()) problems.add(new Problem(Level.FAIL, "-", "no NVFP4 or FP8 weight found"));
        List<Fp8StaticCheck.TensorReport> fp8Reports = new ArrayList<>();
        for (var e : fp8.entrySet()) fp8Reports.add(Fp8StaticCheck.check(e.getKey(), e.getValue(), reference, th, problems));
        Map<String, LlamaCpp> lc = new HashMap<>();
        Map<String, Nvfp4View> byName = new HashMap<>();
        for (Nvfp4View v : views) byName.put(v.ggufName(), v);
        for (Nvfp4View v : views) {
            String n = v.ggufName();
            BlockScaleCensus c = v.census();
            if (c.nan() > 0) problems.add(new Problem(Level.FAIL, n, c.nan() + " block scales are NaN (E4M3 0x7F/0xFF)"));
            if (c.negative() > 0) problems.add(new Problem(Level.FAIL, n, c.negative() + " block scales are negative (sign bit set)"));
            GlobalScale ws = v.weightScale();
            if (!ws.isValid()) problems.add(new Problem(Level.FAIL, n, "per-tensor weight scale " + ws.value() + " is not finite and positive"));
            if (v.inputScale() != null && !v.inputScale().isValid()) {
                problems.add(new Problem(Level.FAIL, n, "input scale " + v.inputScale().value() + " is not finite and positive"));
            }
            long nonFinite = 0;
            double maxAbs = 0;
            ReferenceError ref = null;
            float[] row = new float[(int) v.cols()], rrow = new float[(int) v.cols()];
            boolean expert = n.endsWith("]"); // one expert of a 3-D tensor: no reference tensor of its own
            Optional<GgufTensorSpec> rs = reference == null || expert ? Optional.empty() : reference.tensor(n);
            if (reference != null && !expert && rs.isEmpty()) problems.add(new Problem(Level.WARN, n, "the reference has no tensor of this name"));
            boolean withRef = rs.isPresent() && rs.get().ne()[0] == v.cols() && rs.get().nDims() >= 2 && rs.get().ne()[1] == v.rows();
            if (rs.isPresent() && !withRef) problems.add(new Problem(Level.FAIL, n, "shape differs from the reference's " + java.util.Arrays.toString(rs.get().ne())));
            double dd = 0, rr = 0, qq = 0, qr = 0, refMax = 0;
            BlockCodec dec = withRef ? BlockCodec.of(rs.get().type()) : null;
            long refRowBytes = withRef ? rs.get().type().rowBytes(v.cols()) : 0;
            var refData = withRef ? reference.data(n) : null;
            for (long r = 0; r < v.rows(); r++) {
                v.dequantizeRow(r, row, 0);
                if (withRef) dec.decode(refData, r * refRowBytes, rrow, 0, (int) v.cols());
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
                        refMax = Math.max(refMax, Math.abs(d));
                    }
                }
            }
            if (nonFinite > 0) problems.add(new Problem(Level.FAIL, n, nonFinite + " dequantized values are not finite"));
            if (withRef) {
                ref = new ReferenceError(rr > 0 ? Math.sqrt(dd / rr) : (dd > 0 ? Double.POSITIVE_INFINITY : 0), qq > 0 && rr > 0 ? qr / Math.sqrt(qq * rr) : 1, refMax);
                if (!(ref.relL2() <= th.maxRelL2())) problems.add(new Problem(Level.FAIL, n, String.format("relative L2 error %.4g against the reference (limit %.3g)", ref.relL2(), th.maxRelL2())));
                if (!(ref.cosine() >= th.minCosine())) problems.add(new Problem(Level.FAIL, n, String.format("cosine %.5f against the reference (limit %.3g)", ref.cosine(), th.minCosine())));
            }
            LlamaCpp l = llamaCpp(arch, v, problems);
            lc.put(n, l);
            tensors.add(new TensorReport(n, v.rows(), v.cols(), ws.multiplier(), v.inputScale() == null ? null : (double) v.inputScale().multiplier(),
                    c.nan(), c.negative(), c.zero(), c.subnormal(), c.atMax(), c.minPositiveCode() == 0 ? 0 : Float8.e4m3ToFloat((byte) c.minPositiveCode()),
                    Float8.e4m3ToFloat((byte) c.maxCode()), nonFinite, maxAbs, ref, l));
        }
        fusedShards(views, problems);
        scaleRange(views, problems);
        ffnOverflow(arch, byName, lc, fromGguf, th, problems);
        return new Report(arch, fromGguf, tensors, problems, th, fp8Reports);
    }

    private static LlamaCpp llamaCpp(String arch, Nvfp4View v, List<Problem> problems) {
        LlamaCppScaleUse use = LlamaCppScaleUse.of(arch, v.ggufName());
        double m = v.weightScale().multiplier();
        if (v.fromGguf()) {
            if (use == LlamaCppScaleUse.NOT_LOADED && m != 1.0) {
                problems.add(new Problem(Level.FAIL, v.ggufName(), "has a .scale tensor llama.cpp does not load for this weight: it stops with 'wrong number of tensors'"));
            }
            double f = use == LlamaCppScaleUse.APPLIED ? 1.0 : 1.0 / m;
            if (f != 1.0 && use == LlamaCppScaleUse.LOADED_UNUSED && !LlamaCppScaleUse.factorNormalizedAway(arch, v.ggufName())) {
                problems.add(new Problem(Level.WARN, v.ggufName(), String.format("llama.cpp does not apply its .scale %.4g: it runs this weight x%.4g (inexact before GELU)", m, f)));
            }
            return new LlamaCpp(use.name(), 0, f, Double.NaN);
        }
        if (!v.census().valid() || !v.weightScale().isValid()) return new LlamaCpp(use.name(), 0, Double.NaN, Double.NaN);
        Nvfp4Split s = Nvfp4Split.choose((float) m, v.census(), use, LlamaCppScaleUse.factorNormalizedAway(arch, v.ggufName()), false);
        double up = use == LlamaCppScaleUse.APPLIED ? 1.0 : 1.0 / m;
        return new LlamaCpp(use.name(), s.shift(), s.outcome() == Nvfp4Split.Outcome.FALLBACK ? 1.0 : s.residual(), up);
    }

    /** vLLM loads q/k/v (gate/up) into one fused weight and takes the largest of their per-tensor scales. */
    private static void fusedShards(List<Nvfp4View> views, List<Problem> problems) {
        Map<String, List<Nvfp4View>> groups = new HashMap<>();
        for (Nvfp4View v : views) {
            String g = group(v.ggufName());
            if (!g.equals(v.ggufName())) groups.computeIfAbsent(g, x -> new ArrayList<>()).add(v);
        }
        for (var e : groups.entrySet()) {
            if (e.getValue().getFirst().fromGguf()) continue; // a GGUF's scales are split per tensor by design
            double min = Double.MAX_VALUE, max = 0;
            for (Nvfp4View v : e.getValue()) {
                min = Math.min(min, v.weightScale().multiplier());
                max = Math.max(max, v.weightScale().multiplier());
            }
            if (max > min) {
                problems.add(new Problem(Level.WARN, e.getKey(), String.format("fused shards have different per-tensor scales (%.4g .. %.4g); "
                        + "vLLM uses the largest for all of them, changing the others' values", min, max)));
            }
        }
    }

    /**
     * An amax-based export puts 448 on the block holding its fusion group's largest value; a group whose largest block
     * scale is below 256 has a per-tensor scale too large for its values (E4M3 range unused, or a wrong global scale).
     */
    private static void scaleRange(List<Nvfp4View> views, List<Problem> problems) {
        Map<String, Integer> maxCode = new java.util.LinkedHashMap<>();
        for (Nvfp4View v : views) {
            if (v.fromGguf() || !v.census().valid()) continue;
            maxCode.merge(group(v.ggufName()), v.census().maxCode(), Math::max);
        }
        for (var e : maxCode.entrySet()) {
            if (e.getValue() < 0x78) {
                problems.add(new Problem(Level.WARN, e.getKey(), "largest block scale is " + Float8.e4m3ToFloat((byte) (int) e.getValue())
                        + ", not near 448: the per-tensor scale is larger than amax/2688 (FP8 range unused, or a wrong global scale)"));
            }
        }
    }

    /** The fusion group of a weight (blk.N.attn_qkv, blk.N.ffn_gate_up) or the weight itself. */
    static String group(String ggufName) {
        Matcher m = LAYER.matcher(ggufName);
        if (!m.matches()) return ggufName;
        String k = m.group(2);
        String g = k.matches("attn_[qkv]") ? "attn_qkv" : k.matches("ffn_(gate|up)") ? "ffn_gate_up" : null;
        return g == null ? ggufName : "blk." + m.group(1) + "." + g;
    }

    /** Gemma 3's FFN in this llama.cpp: predicted amax of ffn_down's input against the Q8_0 FP16 limit. */
    private static void ffnOverflow(String arch, Map<String, Nvfp4View> byName, Map<String, LlamaCpp> lc, boolean fromGguf, Thresholds th,
            List<Problem> problems) {
        if (!GemmaArch.GEMMA3.ggufName().equals(arch)) return;
        java.util.SortedSet<Integer> blocks = new java.util.TreeSet<>();
        for (String k : byName.keySet()) {
            Matcher m = LAYER.matcher(k);
            if (m.matches() && m.group(2).startsWith("ffn_")) blocks.add(Integer.parseInt(m.group(1)));
        }
        boolean upstreamNoted = false;
        for (int b : blocks) {
            String p = "blk." + b + ".";
            double fg = factor(lc.get(p + "ffn_gate.weight"), false), fu = factor(lc.get(p + "ffn_up.weight"), false);
            Nvfp4View down = byName.get(p + "ffn_down.weight");
            double amax = down != null && down.inputScale() != null && down.inputScale().isValid() ? down.inputScale().multiplier() * 2688.0 : th.assumedFfnInputAmax();
            String src = down != null && down.inputScale() != null ? "its calibrated input maximum " + String.format("%.4g", amax) : "an assumed input maximum of " + amax;
            double predicted = fg * fu * amax;
            if (predicted >= Q8_0_AMAX_LIMIT) {
                problems.add(new Problem(fromGguf ? Level.FAIL : Level.WARN, p + "ffn",
                        String.format("%s: llama.cpp runs ffn_gate x%.4g and ffn_up x%.4g, so ffn_down's input reaches about %.3g (%s), past the Q8_0 limit %.3g: NaN",
                                fromGguf ? "this GGUF" : "requant convert's split", fg, fu, predicted, src, Q8_0_AMAX_LIMIT)));
            }
            if (!fromGguf) {
                double ug = factor(lc.get(p + "ffn_gate.weight"), true), uu = factor(lc.get(p + "ffn_up.weight"), true);
                if (ug * uu * amax >= Q8_0_AMAX_LIMIT && !upstreamNoted) {
                    upstreamNoted = true;
                    problems.add(new Problem(Level.OK, p + "ffn", String.format("convert_hf_to_gguf.py's split would run ffn_gate x%.4g and ffn_up x%.4g: "
                            + "ffn_down's input about %.3g, NaN in llama.cpp's CPU backend (requant convert shifts the split)", ug, uu, ug * uu * amax)));
                }
            }
        }
    }

    private static double factor(LlamaCpp l, boolean upstream) {
        if (l == null) return 1.0;
        double f = upstream ? l.upstreamFactor() : l.factor();
        return Double.isNaN(f) ? 1.0 : f;
    }
}
