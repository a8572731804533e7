package dev.requant.cli;

import dev.requant.formats.TerminalText;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.requant.converter.qat.LatticeStats;
import dev.requant.converter.qat.QatReport;
import dev.requant.ops.OperationException;
import dev.requant.ops.qat.QatAnalysis;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(addMethodSubcommands = false, name = "qat-report", mixinStandardHelpOptions = true,
        header = "Report which tensors of a model sit on a Q4_0 or Q8_0 lattice (were quantization-aware trained).",
        description = {
            "Which tensors of a checkpoint were trained onto a Q4_0 or a Q8_0 lattice, without converting anything; for a",
            "multimodal Hugging Face folder the projector's vision/audio weights (v.*, a.*, mm.*) too.",
            "Per tensor class and per tensor: the fraction of 32-weight blocks that some Q4_0 block reproduces bit for bit,",
            "the scale rule (max/-8, absmax/7, learned), whether BF16 scales reproduce them, the largest error of the rest,",
            "and the fraction a Q8_0 block (absmax/127 scale) reproduces."
        })
final class QatReportCommand implements Callable<Integer> {
    @Parameters(paramLabel = "MODEL", description = "A Hugging Face folder or a GGUF file (BF16/F16/F32 tensors are analysed).")
    java.nio.file.Path model;

    @Option(names = "--rows", paramLabel = "N", defaultValue = "0",
            description = "Analyse at most N rows per tensor, spread evenly (0 = every row). Default: ${DEFAULT-VALUE}.")
    int rows;

    @Option(names = {"-t", "--threads"}, paramLabel = "N", description = "Threads (default: all cores).")
    Integer threads;

    @Option(names = "--tensors", description = "Also list every tensor, not only the classes.")
    boolean perTensor;

    @Option(names = "--json", description = "Print JSON instead of text.")
    boolean json;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws OperationException, IOException {
        PrintWriter out = spec.commandLine().getOut();
        int n = threads != null ? threads : Runtime.getRuntime().availableProcessors();
        QatReport r = new QatAnalysis().run(new QatAnalysis.Request(model, rows, n), CliContext.of(spec.commandLine().getErr(), true)).report();
        if (json) {
            ObjectMapper m = PrettyJson.mapper();
            ObjectNode root = m.createObjectNode();
            root.put("model", model.toString());
            root.put("aligned_threshold", LatticeStats.ALIGNED);
            ObjectNode classes = root.putObject("classes");
            r.byClass().forEach((c, s) -> classes.set(c, json(m, s).set("q8_0", json(m, r.byClassQ8_0().get(c)))));
            ObjectNode tensors = root.putObject("tensors");
            for (QatReport.TensorFit t : r.tensors()) tensors.set(t.name(), json(m, t.stats()).set("q8_0", json(m, t.q8_0())));
            root.putArray("aligned").addAll(r.alignedClasses().stream().map(m.getNodeFactory()::textNode).toList());
            root.putArray("aligned_q8_0").addAll(r.alignedQ8_0Classes().stream().map(m.getNodeFactory()::textNode).toList());
            root.putArray("not_aligned").addAll(r.unalignedClasses().stream().map(m.getNodeFactory()::textNode).toList());
            out.println(m.writeValueAsString(root));
            out.flush();
            return 0;
        }
        print(model, r, rows, perTensor, out);
        out.flush();
        return 0;
    }

    /** The text report (also the demo's first step). */
    static void print(java.nio.file.Path model, QatReport r, int rows, boolean perTensor, PrintWriter out) {
        out.printf("%s: %d tensors analysed%s%n", TerminalText.escape(model), r.tensors().size(), rows > 0 ? " (" + rows + " rows each)" : "");
        if (r.tensors().isEmpty()) {
            // nothing stored as floats: a lattice can only be measured on BF16/F16/F32 weights
            out.println("No float weight to analyse: this model's weights are already quantized (or not 2-D), so qat-report cannot"
                    + " tell whether it was quantization-aware trained. Run it on the BF16 checkpoint or GGUF.");
            if (!r.skipped().isEmpty()) out.printf("%nnot analysed (not float, or rows not whole 32-blocks): %s%n", TerminalText.escape(String.join(", ", r.skipped())));
            return;
        }
        int pct = (int) (100 * LatticeStats.ALIGNED);
        if (r.alignedClasses().isEmpty() && r.alignedQ8_0Classes().isEmpty()) {
            out.println("No tensor class sits on a Q4_0 or Q8_0 lattice: this checkpoint was not quantization-aware trained for either.");
        } else {
            if (!r.alignedClasses().isEmpty()) out.println("QAT'd for Q4_0 (>= " + pct + "% exact blocks): " + TerminalText.escape(String.join(", ", r.alignedClasses())));
            if (!r.alignedQ8_0Classes().isEmpty()) out.println("On a Q8_0 lattice (>= " + pct + "% exact blocks): " + TerminalText.escape(String.join(", ", r.alignedQ8_0Classes())));
            if (!r.unalignedClasses().isEmpty()) out.println("Not on a lattice: " + TerminalText.escape(String.join(", ", r.unalignedClasses())));
        }
        out.println();
        table(out, r.byClass(), r.byClassQ8_0(), "class");
        if (perTensor) {
            out.println();
            Map<String, LatticeStats> m = new java.util.LinkedHashMap<>();
            Map<String, LatticeStats> m8 = new java.util.LinkedHashMap<>();
            for (QatReport.TensorFit t : r.tensors()) {
                m.put(t.name(), t.stats());
                m8.put(t.name(), t.q8_0());
            }
            table(out, m, m8, "tensor");
        }
        if (!r.skipped().isEmpty()) out.printf("%nnot analysed (not float, or rows not whole 32-blocks): %s%n", TerminalText.escape(String.join(", ", r.skipped())));
    }

    private static void table(PrintWriter out, Map<String, LatticeStats> rows, Map<String, LatticeStats> q8, String what) {
        TextTable t = new TextTable(what, ">blocks", ">exact", "rule", "scales", ">max error", ">q8_0 exact", "verdict");
        for (var e : rows.entrySet()) {
            LatticeStats s = e.getValue();
            LatticeStats s8 = q8.get(e.getKey());
            // rule and scale precision mean something only when most blocks sit on a lattice
            boolean onLattice = s.exactFraction() >= 0.5;
            String verdict = s.aligned() ? "QAT" : s8.aligned() ? "QAT q8_0" : "-";
            t.row(e.getKey(), s.blocks(), String.format(Locale.ROOT, "%.2f%%", 100 * s.exactFraction()),
                    onLattice ? s.dominantRule().label() : "-", onLattice ? s.scaleDtype() : "-",
                    s.inexactBlocks() == 0 ? "0" : String.format(Locale.ROOT, "%.3g", s.maxAbsError()),
                    String.format(Locale.ROOT, "%.2f%%", 100 * s8.exactFraction()), verdict);
        }
        t.print(out, "  ");
    }

    private static ObjectNode json(ObjectMapper m, LatticeStats s) {
        ObjectNode n = m.createObjectNode();
        n.put("blocks", s.blocks());
        n.put("exact_blocks", s.exactBlocks());
        n.put("exact_fraction", s.exactFraction());
        n.put("rule", s.dominantRule().label());
        n.put("scale_dtype", s.scaleDtype());
        n.put("max_abs_error", s.maxAbsError());
        n.put("aligned", s.aligned());
        return n;
    }
}
