package dev.requant.cli;

import dev.requant.formats.TerminalText;
import dev.requant.ops.quantize.QuantizeMix;
import java.io.PrintWriter;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/** What quantize --target-bpw|--target-size prints: the plan per tensor, the totals, how to reproduce it, the eval. */
final class MixReport {
    private MixReport() {}

    static void print(QuantizeMix.Result r, QuantizeMix.Request req, PrintWriter out) {
        var t = r.table();
        out.printf(Locale.ROOT, "%s: sensitivity %s %s (%s, -c %d, %d chunks, %d scored tokens, reference PPL %.4f)%s%n",
                TerminalText.escape(req.input()), r.reused() ? "read from" : "measured into", TerminalText.escape(r.sensitivityFile()),
                t.mode().cliName() + (t.mode().name().equals("PROXY") ? ", probe " + t.probe() : ""), t.nCtx(), t.chunks(), t.scoredTokens(),
                r.referencePpl(), r.reused() ? "" : String.format(Locale.ROOT, ", %d evaluations%s in %.1f s", r.evaluations(),
                        r.inPlace() == 0 ? "" : " (" + r.inPlace() + " in place)", r.measureSeconds()));
        out.println();
        TextTable tt = new TextTable("tensor", "type", ">MiB", ">cost (KLD)", ">share %");
        double total = r.predictedKld();
        for (QuantizeMix.Row row : r.rows()) {
            String type = row.label().startsWith(row.output().ggmlName()) ? row.label() : row.label() + " -> " + row.output().ggmlName();
            tt.row(row.name(), type, String.format(Locale.ROOT, "%.3f", row.bytes() / 1048576.0), String.format(Locale.ROOT, "%.3g", row.cost()),
                    String.format(Locale.ROOT, "%.1f", total > 0 ? 100 * row.cost() / total : 0));
        }
        tt.print(out, "");
        out.println();
        Map<String, Integer> perType = new TreeMap<>();
        for (QuantizeMix.Row row : r.rows()) perType.merge(row.label(), 1, Integer::sum);
        StringBuilder sb = new StringBuilder();
        perType.forEach((k, v) -> sb.append(sb.isEmpty() ? "" : ", ").append(k).append(": ").append(v));
        out.println("tensors per type: " + sb);
        out.printf(Locale.ROOT, "target %s: %.4f BPW, %d tensor bytes, file %d bytes (%.2f MiB)%n", req.budget(), r.bitsPerWeight(), r.tensorBytes(),
                r.fileBytes(), r.fileBytes() / 1048576.0);
        out.printf(Locale.ROOT, "predicted KLD (sum of per-tensor costs) %.6f%n", r.predictedKld());
        if (!Double.isNaN(r.proxyRho())) out.printf(Locale.ROOT, "proxy vs measured KLD: Spearman rho %.3f (probe %s)%n", r.proxyRho(), t.probe());
        out.printf("file type %s; reproduce with: llama-quantize%s --tensor-type-file %s IN.gguf OUT.gguf %s%n", r.recipe().fileType().name(),
                req.imatrix() != null ? " --imatrix " + TerminalText.escape(req.imatrix()) : "",
                req.recipe() != null ? TerminalText.escape(req.recipe()) : "RECIPE (--write-recipe)", r.recipe().fileType().name());
        if (!r.recipe().lattice().isEmpty()) {
            out.printf("%d tensors are Q4_0 on their QAT lattice: requant quantize --qat auto with the recipe writes them so; llama-quantize "
                    + "encodes their q4_0 with its own rule (same size, not the lattice)%n", r.recipe().lattice().size());
        }
        if (req.dryRun()) {
            out.println("dry run: nothing written");
        } else {
            out.printf(Locale.ROOT, "%s: mean KLD %.6f on the calibration chunks (measured on the written file), %.1f s%n",
                    TerminalText.escape(r.output()), r.kld(), r.seconds());
        }
    }
}
