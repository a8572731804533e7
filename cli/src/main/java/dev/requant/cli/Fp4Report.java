package dev.requant.cli;

import dev.requant.formats.TerminalText;
import dev.requant.converter.Nvfp4StaticCheck;
import dev.requant.ops.nvfp4.Fp4Verification;
import dev.requant.runtime.fp4.Fp4DynamicCheck;
import java.io.PrintWriter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The verify-fp4 report as text and as JSON: the three checks, their thresholds and the verdict. */
final class Fp4Report {
    private Fp4Report() {}

    static void print(Fp4Verification v, PrintWriter out) {
        String model = v.model(), reference = v.reference(), device = v.device();
        Fp4DynamicCheck.Result dynamic = v.dynamic();
        Fp4Verification.EngineCheck engine = v.engine();
        out.printf("verify-fp4 %s%s%n", TerminalText.escape(model), reference == null ? "" : " (reference " + TerminalText.escape(reference) + ")");
        Nvfp4StaticCheck.Report st = v.staticCheck();
        out.printf("%nSTATIC: %d NVFP4 weights (%s, %s)%n", st.tensors().size(), TerminalText.escape(st.arch()), st.fromGguf() ? "GGUF" : "checkpoint");
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
        for (Nvfp4StaticCheck.Problem p : st.problems()) out.printf("  %-4s %s: %s%n", p.level() == Nvfp4StaticCheck.Level.OK ? "note" : p.level(), TerminalText.escape(p.tensor()), TerminalText.escape(p.what()));
        Nvfp4StaticCheck.Thresholds th = st.thresholds();
        out.printf("  thresholds: FAIL on NaN/negative block scales, non-finite or non-positive per-tensor scales, non-finite values,%n"
                + "  relative L2 > %.3g or cosine < %.3g against the reference, a predicted Q8_0 overflow in llama.cpp (factor product x input amax >= %.3g)%n",
                th.maxRelL2(), th.minCosine(), Nvfp4StaticCheck.Q8_0_AMAX_LIMIT);

        out.printf("%nDYNAMIC: ");
        if (dynamic == null) out.printf("not run (%s)%n", TerminalText.escape(v.dynamicNotRun()));
        else {
            out.printf("%d chunks x %d tokens = %d positions, reference %s, on %s%n", dynamic.chunks(), dynamic.positions() / Math.max(1, dynamic.chunks()),
                    dynamic.positions(), TerminalText.escape(dynamic.reference()), TerminalText.escape(device));
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
        if (engine == null) out.printf("not run (%s)%n", TerminalText.escape(v.engineNotRun()));
        else {
            out.printf("%d positions x %d logits, %d non-finite%n", engine.positions(), engine.vocab(), engine.nonFinite());
            if (engine.kld() != null) {
                out.printf("  against requant's W4A16 of the same weights (every scale applied): mean KLD %.5f, same top %.2f%%%s%n", engine.kld(),
                        100 * engine.sameTop(), engine.kld() > 0.01 ? " (llama.cpp does not compute quite the same function: see the llama.cpp factors above)" : "");
            }
            out.printf("  threshold: FAIL on any non-finite logit (the KLD is reported, not judged: llama.cpp quantizes activations to Q8_0)%n");
        }
        List<String> f = v.failures();
        out.printf("%nVERDICT: %s%n", f.isEmpty() ? "PASS" : "FAIL");
        for (String s : f) out.printf("  %s%n", TerminalText.escape(s));
    }

    static Map<String, Object> toJson(Fp4Verification v) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("model", v.model());
        m.put("reference", v.reference());
        m.put("verdict", v.passed() ? "PASS" : "FAIL");
        m.put("failures", v.failures());
        m.put("static", v.staticCheck());
        Map<String, Object> d = new LinkedHashMap<>();
        if (v.dynamic() == null) d.put("notRun", v.dynamicNotRun());
        else {
            d.put("device", v.device());
            d.put("result", v.dynamic());
        }
        m.put("dynamic", d);
        Map<String, Object> e = new LinkedHashMap<>();
        if (v.engine() == null) e.put("notRun", v.engineNotRun());
        else {
            e.put("positions", v.engine().positions());
            e.put("nonFinite", v.engine().nonFinite());
            e.put("kldVsW4a16", v.engine().kld());
            e.put("sameTopVsW4a16", v.engine().sameTop());
        }
        m.put("engine", e);
        return m;
    }
}
