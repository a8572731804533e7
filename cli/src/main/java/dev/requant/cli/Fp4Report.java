package dev.requant.cli;

import dev.requant.converter.Nvfp4StaticCheck;
import dev.requant.runtime.fp4.Fp4DynamicCheck;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The verify-fp4 report: the three checks, their thresholds and the verdict, as text and as JSON. */
final class Fp4Report {
    final String model, reference;
    Nvfp4StaticCheck.Report staticCheck;
    Fp4DynamicCheck.Result dynamic;
    String dynamicNotRun, engineNotRun, device;
    int[] tokens;
    Long engineNonFinite;
    Double engineKld, engineSameTop;
    int enginePositions, engineVocab;

    Fp4Report(String model, String reference) {
        this.model = model;
        this.reference = reference;
    }

    List<String> failures() {
        List<String> f = new ArrayList<>();
        if (staticCheck != null) {
            for (Nvfp4StaticCheck.Problem p : staticCheck.problems()) {
                if (p.level() == Nvfp4StaticCheck.Level.FAIL) f.add("static: " + p.tensor() + ": " + p.what());
            }
        }
        if (dynamic != null) for (String s : dynamic.failures()) f.add("dynamic: " + s);
        if (engineNonFinite != null && engineNonFinite > 0) f.add("engine: llama.cpp returned " + engineNonFinite + " non-finite logits");
        return f;
    }

    boolean passed() { return failures().isEmpty(); }

    void print(PrintWriter out) {
        out.printf("verify-fp4 %s%s%n", model, reference == null ? "" : " (reference " + reference + ")");
        Nvfp4StaticCheck.Report st = staticCheck;
        out.printf("%nSTATIC: %d NVFP4 weights (%s, %s)%n", st.tensors().size(), st.arch(), st.fromGguf() ? "GGUF" : "checkpoint");
        TextTable t = new TextTable("tensor", "rows x cols", "weight scale", "input scale", "block scales min..max", "NaN/neg/0/sub/448",
                "rel L2", "cosine", "llama.cpp factor");
        for (Nvfp4StaticCheck.TensorReport r : st.tensors()) {
            t.row(r.name(), r.rows() + " x " + r.cols(), String.format("%.4g", r.weightScale()), r.inputScale() == null ? "-" : String.format("%.4g", r.inputScale()),
                    String.format("%.4g..%.4g", r.minScale(), r.maxScale()),
                    r.nanScales() + "/" + r.negativeScales() + "/" + r.zeroScales() + "/" + r.subnormalScales() + "/" + r.scalesAt448(),
                    r.reference() == null ? "-" : String.format("%.4f", r.reference().relL2()), r.reference() == null ? "-" : String.format("%.5f", r.reference().cosine()),
                    r.llamaCpp() == null ? "-" : String.format("%s%s", Double.isNaN(r.llamaCpp().factor()) ? "?" : String.format("x%.4g", r.llamaCpp().factor()),
                            r.llamaCpp().shift() != 0 ? " (k=" + r.llamaCpp().shift() + ")" : ""));
        }
        t.print(out, "  ");
        if (!st.fp8().isEmpty()) {
            out.printf("%n  FP8: %d weights (dequantized exactly by requant convert: fp8 x scale)%n", st.fp8().size());
            TextTable f = new TextTable("tensor", "rows x cols", "scales", "scale min..max", "NaN codes", "max |w|", "rel L2", "cosine");
            for (dev.requant.converter.Fp8StaticCheck.TensorReport r : st.fp8()) {
                f.row(r.name(), r.rows() + " x " + r.cols(), r.granularity(), String.format("%.4g..%.4g", r.minScale(), r.maxScale()), r.nanCodes(),
                        String.format("%.4g", r.maxAbs()), r.reference() == null ? "-" : String.format("%.4f", r.reference().relL2()),
                        r.reference() == null ? "-" : String.format("%.5f", r.reference().cosine()));
            }
            f.print(out, "  ");
        }
        for (Nvfp4StaticCheck.Problem p : st.problems()) out.printf("  %-4s %s: %s%n", p.level() == Nvfp4StaticCheck.Level.OK ? "note" : p.level(), p.tensor(), p.what());
        Nvfp4StaticCheck.Thresholds th = st.thresholds();
        out.printf("  thresholds: FAIL on NaN/negative block scales, non-finite or non-positive per-tensor scales, non-finite values,%n"
                + "  relative L2 > %.3g or cosine < %.3g against the reference, a predicted Q8_0 overflow in llama.cpp (factor product x input amax >= %.3g)%n",
                th.maxRelL2(), th.minCosine(), Nvfp4StaticCheck.Q8_0_AMAX_LIMIT);

        out.printf("%nDYNAMIC: ");
        if (dynamic == null) out.printf("not run (%s)%n", dynamicNotRun);
        else {
            out.printf("%d chunks x %d tokens = %d positions, reference %s, on %s%n", dynamic.chunks(), dynamic.positions() / Math.max(1, dynamic.chunks()),
                    dynamic.positions(), dynamic.reference(), device);
            TextTable d = new TextTable("path", "ran on", "mean KLD", "same top", "max |dlogit|", "non-finite", "input scales");
            for (Fp4DynamicCheck.PathResult p : dynamic.paths()) {
                if (!p.ran()) {
                    d.row(p.name(), "NOT RUN: " + p.notRunReason(), "-", "-", "-", "-", "-");
                } else if (p.isReference()) {
                    d.row(p.name(), p.engine(), "(reference)", "-", "-", "-", "-");
                } else {
                    d.row(p.name(), p.engine(), String.format("%.5f", p.meanKld()), String.format("%.2f%%", 100 * p.sameTop()),
                            String.format("%.4g", p.maxAbsDeltaLogit()), Long.toString(p.nonFinite()),
                            p.name().startsWith("W4A4") ? (p.dynamicScaleCalls() > 0 ? p.dynamicScaleCalls() + " dynamic, " : "") + p.staticScaleCalls() + " static" : "-");
                }
            }
            d.print(out, "  ");
            if (dynamic.emulationAgreement() != null) out.printf("  GPU vs CPU emulation: max |dlogit| %.4g%n", dynamic.emulationAgreement());
            Fp4DynamicCheck.Thresholds dt = dynamic.thresholds();
            out.printf("  thresholds: FAIL on non-finite logits, W4A16 mean KLD > %.3g, W4A4 mean KLD > %.3g, GPU/CPU emulation difference > %s%n",
                    dt.maxKldW4a16(), dt.maxKldW4a4(), dt.maxEmulationDelta());
        }
        out.printf("%nENGINE (llama.cpp via node-llama-cpp): ");
        if (engineNonFinite == null) out.printf("not run (%s)%n", engineNotRun);
        else {
            out.printf("%d positions x %d logits, %d non-finite%n", enginePositions, engineVocab, engineNonFinite);
            if (engineKld != null) {
                out.printf("  against requant's W4A16 of the same weights (every scale applied): mean KLD %.5f, same top %.2f%%%s%n", engineKld,
                        100 * engineSameTop, engineKld > 0.01 ? " (llama.cpp does not compute quite the same function: see the llama.cpp factors above)" : "");
            }
            out.printf("  threshold: FAIL on any non-finite logit (the KLD is reported, not judged: llama.cpp quantizes activations to Q8_0)%n");
        }
        List<String> f = failures();
        out.printf("%nVERDICT: %s%n", f.isEmpty() ? "PASS" : "FAIL");
        for (String s : f) out.printf("  %s%n", s);
    }

    Map<String, Object> toJson() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("model", model);
        m.put("reference", reference);
        m.put("verdict", passed() ? "PASS" : "FAIL");
        m.put("failures", failures());
        m.put("static", staticCheck);
        Map<String, Object> d = new LinkedHashMap<>();
        if (dynamic == null) d.put("notRun", dynamicNotRun);
        else {
            d.put("device", device);
            d.put("result", dynamic);
        }
        m.put("dynamic", d);
        Map<String, Object> e = new LinkedHashMap<>();
        if (engineNonFinite == null) e.put("notRun", engineNotRun);
        else {
            e.put("positions", enginePositions);
            e.put("nonFinite", engineNonFinite);
            e.put("kldVsW4a16", engineKld);
            e.put("sameTopVsW4a16", engineSameTop);
        }
        m.put("engine", e);
        return m;
    }
}
