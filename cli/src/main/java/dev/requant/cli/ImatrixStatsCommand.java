package dev.requant.cli;

import dev.requant.formats.TerminalText;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.requant.formats.imatrix.Imatrix;
import dev.requant.ops.OperationException;
import dev.requant.ops.imatrix.ImatrixStats;
import dev.requant.formats.imatrix.ImatrixStatistics;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(addMethodSubcommands = false, name = "stats", mixinStandardHelpOptions = true,
        header = "Print per-weight statistics of an imatrix, after llama-imatrix --show-statistics.",
        description = {
            "Per-weight statistics of an imatrix, after llama-imatrix --show-statistics: over the mean squares E[x^2]",
            "of the input columns: min, max, mean, sigma, entropy (bits), ZD (share of columns over 1 sigma from the",
            "mean), cosine similarity with the same weight one layer earlier, and the most important columns."
        })
final class ImatrixStatsCommand implements Callable<Integer> {
    @Parameters(paramLabel = "FILE", description = "Imatrix file (GGUF or .dat).")
    Path file;

    @Option(names = "--top", paramLabel = "N", defaultValue = "3", description = "Most important columns to list (default ${DEFAULT-VALUE}).")
    int top;

    @Option(names = "--json", description = "Print JSON instead of a table.")
    boolean json;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws OperationException, java.io.IOException {
        PrintWriter out = spec.commandLine().getOut();
        print(file, new ImatrixStats().run(new ImatrixStats.Request(file, top), CliContext.of(spec.commandLine().getErr(), true)), json, out);
        return 0;
    }

    /** The statistics as a table or JSON (also llama-imatrix's --in-file F --show-statistics). */
    static void print(Path file, ImatrixStats.Result r, boolean json, PrintWriter out) throws java.io.IOException {
        Imatrix im = r.imatrix();
        List<ImatrixStatistics.Entry> stats = r.entries();
        if (json) {
            ObjectNode root = PrettyJson.mapper().createObjectNode();
            root.put("file", file.toString());
            root.put("format", im.format().name().toLowerCase(Locale.ROOT));
            root.put("chunk_count", im.chunkCount());
            root.put("chunk_size", im.chunkSize());
            ArrayNode ds = root.putArray("datasets");
            im.datasets().forEach(ds::add);
            ArrayNode arr = root.putArray("entries");
            for (ImatrixStatistics.Entry e : stats) {
                ObjectNode n = arr.addObject();
                n.put("name", e.name());
                n.put("layer", e.layer());
                n.put("count", e.count());
                n.put("elements", e.elements());
                n.put("sum", e.sum());
                n.put("min", e.min());
                n.put("max", e.max());
                n.put("mean", e.mean());
                n.put("stddev", e.stdDev());
                n.put("entropy", e.entropy());
                n.put("zd", e.zdScore());
                if (!Double.isNaN(e.cosineToPrevious())) n.put("cossim", e.cosineToPrevious());
                ArrayNode t = n.putArray("top");
                for (var c : e.top()) t.addObject().put("column", c.column()).put("mean_sq", c.meanSquare());
            }
            out.println(PrettyJson.mapper().writeValueAsString(root));
            out.flush();
            return;
        }
        out.printf("%s: %s imatrix, %d entries, %d chunks%s, datasets %s%n", TerminalText.escapeEach(file, im.format().name().toLowerCase(Locale.ROOT),
                im.entries().size(), im.chunkCount(), im.chunkSize() > 0 ? " of " + im.chunkSize() + " tokens" : "", im.datasets()));
        TextTable t = new TextTable(">layer", "tensor", ">count", ">min", ">max", ">mean", ">sigma", ">H(bits)", ">ZD%", ">cos", "top columns (E[x^2])");
        for (ImatrixStatistics.Entry e : stats) {
            t.row(e.layer(), e.tensor(), e.count(), g(e.min()), g(e.max()), g(e.mean()), g(e.stdDev()),
                    String.format(Locale.ROOT, "%.3f", e.entropy()), String.format(Locale.ROOT, "%.2f", 100 * e.zdScore()),
                    Double.isNaN(e.cosineToPrevious()) ? "-" : String.format(Locale.ROOT, "%.4f", e.cosineToPrevious()),
                    e.top().stream().map(c -> c.column() + ":" + g(c.meanSquare())).collect(Collectors.joining(" ")));
        }
        t.print(out, "  ");
        out.flush();
    }

    private static String g(double v) {
        return String.format(Locale.ROOT, "%.4g", v);
    }
}
