package dev.requant.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.requant.converter.quantize.mix.SensitivityTable;
import dev.requant.cuda.ComputeDevice;
import dev.requant.formats.TerminalText;
import dev.requant.formats.gguf.FileType;
import dev.requant.formats.io.AtomicFile;
import dev.requant.ops.OperationContext;
import dev.requant.ops.OperationException;
import dev.requant.ops.report.ParetoReport;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(addMethodSubcommands = false, name = "report", mixinStandardHelpOptions = true,
        header = "Size against KL divergence: llama.cpp's file types (with and without the imatrix) and requant's mixes, as a chart.",
        description = {
            "Size against KL divergence for one model: llama.cpp's file types without and with the imatrix, and",
            "requant's measured mixes (quantize --target-bpw) at the size of each type made with the imatrix, all",
            "evaluated against IN.gguf on --eval-text in one run. Writes DIR/pareto.png and DIR/pareto.json and keeps",
            "every file in DIR; files already there are used as they are (rerun to add types or budgets)."
        })
final class ReportCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "IN.gguf", description = "The unquantized model (BF16/F16/F32 GGUF).")
    Path input;

    @Option(names = {"-o", "--output"}, paramLabel = "DIR", required = true, description = "Folder for the files, pareto.png and pareto.json.")
    Path folder;

    @Option(names = "--imatrix", paramLabel = "FILE", required = true, description = "Importance matrix for the +imatrix types and the mixes.")
    Path imatrix;

    @Option(names = "--text", paramLabel = "FILE", required = true, description = "Calibration text: the mixes' sensitivity is measured on it.")
    Path text;

    @Option(names = "--eval-text", paramLabel = "FILE", description = "Held-out text every file is evaluated on (default: --text).")
    Path evalText;

    @Option(names = "--types", paramLabel = "T1,T2,...", split = ",", description = "File types (default Q3_K_M,Q4_0,IQ4_XS,Q4_K_M,Q5_K_M,Q6_K,Q8_0).")
    List<String> types;

    @Option(names = "--mix-bpw", paramLabel = "B1,B2,...", split = ",", description = "Mix targets in bits per weight (default: the size of each type with the imatrix).")
    List<Double> mixBpw = new ArrayList<>();

    @Option(names = {"-c", "--ctx-size"}, paramLabel = "N", defaultValue = "512", description = "Tokens per eval chunk (default ${DEFAULT-VALUE}).")
    int nCtx;

    @Option(names = "--chunks", paramLabel = "N", defaultValue = "-1", description = "Eval chunks (default: all).")
    int chunks;

    @Option(names = "--mix-ctx-size", paramLabel = "N", defaultValue = "512", description = "Tokens per calibration chunk of the mixes (default ${DEFAULT-VALUE}).")
    int mixCtx;

    @Option(names = "--mix-chunks", paramLabel = "N", defaultValue = "8", description = "Calibration chunks of the mixes (default ${DEFAULT-VALUE}).")
    int mixChunks;

    @Option(names = "--sensitivity-mode", paramLabel = "MODE", defaultValue = "measured", description = "measured or proxy (see quantize --help).")
    String mode;

    @Option(names = {"-t", "--threads"}, paramLabel = "N", description = "CPU threads (default: all cores).")
    Integer threads;

    @Option(names = "--device", paramLabel = "DEVICE", defaultValue = "auto", description = "Where the models run: ${COMPLETION-CANDIDATES}.")
    ComputeDevice device;

    @Option(names = "--no-progress", description = "No progress bar on stderr.")
    boolean noProgress;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws OperationException, IOException {
        List<FileType> ts = new ArrayList<>();
        if (types == null) {
            ts.addAll(ParetoReport.DEFAULT_TYPES);
        } else {
            for (String t : types) {
                FileType f = FileType.parse(t).orElseThrow(() -> new CommandLine.ParameterException(spec.commandLine(),
                        "--types: invalid type '" + t + "' (" + FileType.producibleNames() + ")"));
                ts.add(f);
            }
        }
        SensitivityTable.Mode m = switch (mode.toLowerCase(Locale.ROOT)) {
            case "measured" -> SensitivityTable.Mode.MEASURED;
            case "proxy" -> SensitivityTable.Mode.PROXY;
            default -> throw new CommandLine.ParameterException(spec.commandLine(), "--sensitivity-mode: unknown mode '" + mode + "' (choose measured or proxy)");
        };
        int n = threads != null ? threads : Runtime.getRuntime().availableProcessors();
        ParetoReport.Request req = new ParetoReport.Request(input, imatrix, text, evalText != null ? evalText : text, folder, ts, mixBpw,
                mixCtx, mixChunks, m, nCtx, chunks, device, n);
        PrintWriter out = spec.commandLine().getOut();
        ParetoReport.Result r = new ParetoReport().run(req, CliContext.of(spec.commandLine().getErr(), noProgress));
        String model = dev.requant.ops.eval.Eval.displayName(input);
        TextTable t = new TextTable("file", "kind", ">BPW", ">MiB", ">mean KLD", ">±", ">same top %", ">PPL ratio");
        for (ParetoReport.Point p : r.points()) {
            var k = p.report();
            t.row(p.name(), p.kind().label(), String.format(Locale.ROOT, "%.3f", p.bitsPerWeight()), String.format(Locale.ROOT, "%.2f", p.fileBytes() / 1048576.0),
                    String.format(Locale.ROOT, "%.6f", k.kld().value()), String.format(Locale.ROOT, "%.6f", k.kld().uncertainty()),
                    String.format(Locale.ROOT, "%.2f", 100 * k.sameTop().value()), String.format(Locale.ROOT, "%.4f", k.pplRatio().value()));
        }
        out.printf(Locale.ROOT, "%s vs %s: %d chunks x %d tokens of %s, %s%n%n", TerminalText.escape(model), "its quantizations", r.eval().nChunk(), r.eval().nCtx(),
                TerminalText.escape(req.evalText()), r.backend());
        t.print(out, "");
        Path png = folder.resolve("pareto.png"), json = folder.resolve("pareto.json");
        ParetoPlot.write(r, model, png);
        try (AtomicFile f = AtomicFile.create(json)) {
            f.channel().write(ByteBuffer.wrap(json(r, req, model).getBytes(StandardCharsets.UTF_8)));
            f.commit();
        }
        out.printf("%nwrote %s and %s (%.1f s)%n", TerminalText.escape(png), TerminalText.escape(json), r.seconds());
        out.flush();
        return 0;
    }

    static String json(ParetoReport.Result r, ParetoReport.Request req, String model) throws IOException {
        ObjectMapper om = new ObjectMapper();
        ObjectNode root = om.createObjectNode();
        root.put("model", model);
        root.put("eval_text", req.evalText().toString());
        root.put("calibration_text", req.calibration().toString());
        root.put("n_ctx", r.eval().nCtx());
        root.put("chunks", r.eval().nChunk());
        root.put("backend", r.backend());
        ArrayNode ps = root.putArray("points");
        for (ParetoReport.Point p : r.points()) {
            ObjectNode o = ps.addObject();
            o.put("name", p.name());
            o.put("kind", p.kind().name().toLowerCase(Locale.ROOT));
            o.put("file", p.file().getFileName().toString());
            o.put("file_bytes", p.fileBytes());
            o.put("bpw", p.bitsPerWeight());
            o.put("kld", p.report().kld().value());
            o.put("kld_uncertainty", p.report().kld().uncertainty());
            o.put("same_top", p.report().sameTop().value());
            o.put("ppl_ratio", p.report().pplRatio().value());
        }
        return om.writerWithDefaultPrettyPrinter().writeValueAsString(root) + "\n";
    }
}
