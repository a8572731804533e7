package dev.requant.cli;

import dev.requant.formats.TerminalText;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.requant.runtime.eval.EvalResult;
import dev.requant.runtime.eval.KldReport;
import java.io.PrintWriter;
import java.util.Locale;
import java.util.Map;

/** The text and JSON forms of an {@link EvalResult}. */
final class EvalReport {
    private EvalReport() {}

    static void print(EvalResult r, String backend, PrintWriter out) {
        out.printf(Locale.ROOT, "reference   %s%s%n", TerminalText.escape(r.reference()), r.referenceFromFile()
                ? "  (logits file: KLD from its 16-bit log-probs, terms below -16 skipped, as llama-perplexity)" : "");
        out.printf(Locale.ROOT, "chunks      %d x %d tokens, %d scored per model (second half of each chunk)%n",
                r.nChunk(), r.nCtx(), r.scoredTokens());
        if (r.referencePpl() != null) {
            out.printf(Locale.ROOT, "PPL(ref)    %.4f +/- %.5f%n", r.referencePpl().value(), r.referencePpl().uncertainty());
        }
        if (r.compared().isEmpty()) { // -m alone: the perplexity above is the whole result
            out.printf(Locale.ROOT, "%n(%s; ± is one standard error as llama-perplexity prints it)%n", TerminalText.escape(backend));
            return;
        }
        out.println();
        TextTable t = new TextTable("model", ">PPL", ">ln(PPL/PPL ref)", ">mean KLD", ">median KLD", ">KLD 99%", ">max KLD",
                ">same top %", ">RMS Δp %");
        for (EvalResult.Compared c : r.compared()) {
            KldReport k = c.report();
            t.row(c.name(),
                    pm(k.ppl(), "%.4f", "%.4f"),
                    pm(k.lnPplRatio(), "%.5f", "%.5f"),
                    pm(k.kld(), "%.6f", "%.6f"),
                    f("%.6f", k.kldPercentiles().get(0.5f)),
                    f("%.6f", k.kldPercentiles().get(0.99f)),
                    f("%.6f", k.kldPercentiles().get(1f)),
                    pm(scaled(k.sameTop()), "%.2f", "%.2f"),
                    pm(scaled(k.rmsDeltaP()), "%.3f", "%.3f"));
        }
        t.print(out, "");
        out.println();
        TextTable p = new TextTable("model", ">KLD 99.9%", ">95%", ">90%", ">10%", ">Δp 1%", ">Δp 5%", ">Δp median %", ">Δp 95%", ">Δp 99%",
                ">PPL ratio", ">Cor(ln PPL)");
        for (EvalResult.Compared c : r.compared()) {
            KldReport k = c.report();
            Map<Float, Float> kp = k.kldPercentiles(), dp = k.deltaPPercentiles();
            p.row(c.name(), f("%.6f", kp.get(0.999f)), f("%.6f", kp.get(0.95f)), f("%.6f", kp.get(0.9f)), f("%.6f", kp.get(0.1f)),
                    pct(dp.get(0.01f)), pct(dp.get(0.05f)), pct(dp.get(0.5f)), pct(dp.get(0.95f)), pct(dp.get(0.99f)),
                    pm(k.pplRatio(), "%.4f", "%.4f"), f("%.2f%%", (float) (100 * k.correlation())));
        }
        p.print(out, "");
        out.printf(Locale.ROOT, "%n(%s; ± is one standard error as llama-perplexity prints it)%n", TerminalText.escape(backend));
    }

    private static KldReport.Value scaled(KldReport.Value v) {
        return new KldReport.Value(100 * v.value(), 100 * v.uncertainty());
    }

    private static String pm(KldReport.Value v, String fv, String fu) {
        return String.format(Locale.ROOT, fv + " ± " + fu, v.value(), v.uncertainty());
    }

    private static String f(String fmt, Float v) {
        return v == null ? "" : String.format(Locale.ROOT, fmt, v);
    }

    private static String pct(Float v) {
        return v == null ? "" : String.format(Locale.ROOT, "%.3f", 100 * v);
    }

    /** Every statistic of the report, percentile maps keyed by level (e.g. "99.0", "median"). */
    static ObjectNode toJson(EvalResult r) {
        ObjectMapper m = new ObjectMapper();
        ObjectNode root = m.createObjectNode();
        root.put("reference", r.reference());
        root.put("reference_is_logits_file", r.referenceFromFile());
        root.put("n_ctx", r.nCtx());
        root.put("n_chunk", r.nChunk());
        root.put("scored_tokens", r.scoredTokens());
        if (r.referencePpl() != null) value(root, "reference_ppl", r.referencePpl());
        var arr = root.putArray("models");
        for (EvalResult.Compared c : r.compared()) {
            KldReport k = c.report();
            ObjectNode n = arr.addObject();
            n.put("name", c.name());
            n.put("count", k.count());
            value(n, "ppl", k.ppl());
            value(n, "ppl_base", k.pplBase());
            n.put("cor_ln_ppl", k.correlation());
            value(n, "ln_ppl_ratio", k.lnPplRatio());
            value(n, "ppl_ratio", k.pplRatio());
            value(n, "ppl_diff", k.pplDiff());
            value(n, "kld", k.kld());
            levels(n.putObject("kld_percentiles"), k.kldPercentiles());
            value(n, "delta_p", k.deltaP());
            levels(n.putObject("delta_p_percentiles"), k.deltaPPercentiles());
            value(n, "rms_delta_p", k.rmsDeltaP());
            value(n, "same_top", k.sameTop());
            n.put("max_abs_delta_p", k.maxAbsDeltaP());
        }
        return root;
    }

    private static void value(ObjectNode n, String name, KldReport.Value v) {
        ObjectNode o = n.putObject(name);
        o.put("value", v.value());
        o.put("uncertainty", v.uncertainty());
    }

    private static void levels(ObjectNode n, Map<Float, Float> m) {
        for (var e : m.entrySet()) {
            float l = e.getKey();
            String key = l == 1f ? "max" : l == 0f ? "min" : l == 0.5f ? "median" : String.format(Locale.ROOT, "%.1f", 100 * l);
            n.put(key, e.getValue());
        }
    }
}
