package dev.requant.ops.quantize;

import dev.requant.ops.Opened;
import dev.requant.converter.ModelSources;
import dev.requant.converter.quantize.ImatrixInput;
import dev.requant.converter.quantize.PlannedQuantTensor;
import dev.requant.converter.quantize.QuantizePlan;
import dev.requant.converter.quantize.QuantizePlanner;
import dev.requant.converter.quantize.QuantizeSettings;
import dev.requant.converter.quantize.TensorTypeOverride;
import dev.requant.converter.quantize.mix.MixOption;
import dev.requant.converter.quantize.mix.MixRecipe;
import dev.requant.converter.quantize.mix.MixSolver;
import dev.requant.converter.quantize.mix.SensitivityTable;
import dev.requant.converter.quantize.mix.SizeBudget;
import dev.requant.converter.quantize.mix.TensorSensitivity;
import dev.requant.cuda.ComputeDevice;
import dev.requant.cuda.CudaUnavailableException;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.gguf.FileType;
import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.gguf.GgufShards;
import dev.requant.formats.gguf.GgufWriter;
import dev.requant.formats.imatrix.ImatrixFilter;
import dev.requant.formats.io.AtomicFile;
import dev.requant.formats.io.InputFiles;
import dev.requant.formats.model.GemmaConfig;
import dev.requant.formats.model.ModelSource;
import dev.requant.formats.tokenizer.LlamaVocab;
import dev.requant.formats.tokenizer.Tokenizer;
import dev.requant.ops.BadInputException;
import dev.requant.ops.EnvironmentException;
import dev.requant.ops.Operation;
import dev.requant.ops.OperationContext;
import dev.requant.ops.OperationException;
import dev.requant.ops.OutputPaths;
import dev.requant.runtime.ForwardSession;
import dev.requant.runtime.cpu.CpuThreads;
import dev.requant.runtime.device.Sessions;
import dev.requant.runtime.eval.CalibrationKld;
import dev.requant.runtime.model.GemmaWeights;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * {@code quantize --target-bpw|--target-size}: a per-tensor mix of standard GGML types chosen to minimise the model's
 * KL divergence under a size budget. Measures (or loads) a {@link SensitivityTable}: every tensor of the model is
 * quantized to every type of the menu (as llama-quantize would quantize it, imatrix and row-size fallbacks included)
 * and the model is run on calibration chunks with only that tensor swapped in; a QAT tensor on a Q4_0 lattice is also
 * offered Q4_0 through lattice recovery. {@link MixSolver} picks the types; the mix is written as a plain quantization
 * with one {@code --tensor-type} rule per tensor ({@link MixRecipe}), so {@code quantize --tensor-type-file} (and
 * llama-quantize) reproduce it; the result is evaluated on the calibration chunks.
 */
public final class QuantizeMix implements Operation<QuantizeMix.Request, QuantizeMix.Result> {
    /**
     * The types offered without --allow-types: those of llama.cpp's Q3_K_M .. Q8_0 file types, and IQ3_S and IQ4_XS
     * (of its IQ3_S/IQ3_M and IQ4_XS file types; neither needs an imatrix). IQ4_XS is what lets a mix at Q4_0's size
     * spend fewer bits on the insensitive tensors than Q4_K's 4.5: on the trained tiny Gemma 3 of BENCHMARKS.md it cut
     * the held-out KLD at Q4_0's size from 0.0526 to 0.0466. Q3_K stays first: the proxy's probe is the first of the
     * smallest types.
     */
    public static final List<GgmlType> DEFAULT_MENU = List.of(GgmlType.Q3_K, GgmlType.IQ3_S, GgmlType.IQ4_XS, GgmlType.Q4_0,
            GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.Q8_0);

    /**
     * @param output the mix (also where the work files go, beside it)
     * @param menu the types offered (--allow-types), or null for {@link #DEFAULT_MENU} (or every type of a reused table)
     * @param sensitivity the table's JSON: read when it exists (measured for this model), else measured and written there;
     *     null for {@code <output>.sensitivity.json}
     * @param recipe where to write the --tensor-type-file, or null
     * @param qat offer Q4_0 on its lattice to tensors that sit on one
     */
    public record Request(Path input, Path output, SizeBudget budget, Path imatrix, Path text, List<GgmlType> menu, int nCtx, int chunks,
                          Path sensitivity, SensitivityTable.Mode mode, Path recipe, boolean dryRun, boolean qat, ComputeDevice device,
                          int threads) {
        public Request {
            menu = menu == null ? null : List.copyOf(menu);
        }

        public static Request of(Path input, Path output, SizeBudget budget, Path imatrix, Path text) {
            return new Request(input, output, budget, imatrix, text, null, 512, 8, null, SensitivityTable.Mode.MEASURED, null, false, true,
                    ComputeDevice.AUTO, Runtime.getRuntime().availableProcessors());
        }

        public Request withMenu(List<GgmlType> m) {
            return new Request(input, output, budget, imatrix, text, m, nCtx, chunks, sensitivity, mode, recipe, dryRun, qat, device, threads);
        }

        public Request withCalibration(int c, int n) {
            return new Request(input, output, budget, imatrix, text, menu, c, n, sensitivity, mode, recipe, dryRun, qat, device, threads);
        }

        public Request withSensitivity(Path p, SensitivityTable.Mode m) {
            return new Request(input, output, budget, imatrix, text, menu, nCtx, chunks, p, m, recipe, dryRun, qat, device, threads);
        }

        public Request withRecipe(Path p) {
            return new Request(input, output, budget, imatrix, text, menu, nCtx, chunks, sensitivity, mode, p, dryRun, qat, device, threads);
        }

        public Request withDryRun(boolean d) {
            return new Request(input, output, budget, imatrix, text, menu, nCtx, chunks, sensitivity, mode, recipe, d, qat, device, threads);
        }

        public Request withQat(boolean q) {
            return new Request(input, output, budget, imatrix, text, menu, nCtx, chunks, sensitivity, mode, recipe, dryRun, q, device, threads);
        }

        public Request withThreads(int t) {
            return new Request(input, output, budget, imatrix, text, menu, nCtx, chunks, sensitivity, mode, recipe, dryRun, qat, device, t);
        }

        public Request withDevice(ComputeDevice d) {
            return new Request(input, output, budget, imatrix, text, menu, nCtx, chunks, sensitivity, mode, recipe, dryRun, qat, d, threads);
        }

        public Path sensitivityOrDefault() {
            return sensitivity != null ? sensitivity : output.resolveSibling(output.getFileName() + ".sensitivity.json");
        }
    }

    /** One tensor of the mix: the option chosen and its measured (or estimated) cost. */
    public record Row(String name, String label, GgmlType output, long bytes, double cost, long inputBytes) {}

    /**
     * @param tensorBytes the output's tensor bytes (as quantize's "quant size" counts them)
     * @param fileBytes the output file's size (computed exactly for a dry run: header plus padded tensors)
     * @param budgetBytes the most tensor bytes (padded, for a file-size target) the mix could use
     * @param predictedKld the solver's objective: the sum of the chosen options' costs
     * @param kld the written mix's mean KLD on the calibration chunks (NaN for a dry run)
     * @param proxyRho Spearman's rank correlation of the proxy with the measurement (NaN unless measured in full)
     * @param reused whether the sensitivity table was read from a file
     * @param inPlace evaluations made by swapping a tensor into the reference's session rather than opening one
     */
    public record Result(Path output, MixRecipe recipe, List<Row> rows, long tensorBytes, long fileBytes, long elements, long budgetBytes,
                         double predictedKld, double kld, double referencePpl, SensitivityTable table, Path sensitivityFile, boolean reused,
                         double proxyRho, int evaluations, int inPlace, double measureSeconds, double seconds, MixSolver.Solution solution) {
        public double bitsPerWeight() { return tensorBytes * 8.0 / elements; }
    }

    @Override
    public Result run(Request r, OperationContext ctx) throws OperationException {
        long start = System.nanoTime();
        if (r.nCtx() < 4) throw new BadInputException("-c must be at least 4, got " + r.nCtx());
        if (r.chunks() < 1) throw new BadInputException("--chunks must be positive, got " + r.chunks());
        if (r.threads() < 1) throw new BadInputException("--threads must be at least 1");
        if (!Files.exists(r.input())) throw new BadInputException(r.input() + ": no such file");
        if (r.text() == null) throw new BadInputException("--text FILE is required: the mix is measured on calibration text");
        List<Path> inputs = new ArrayList<>(List.of(r.input(), r.text()));
        if (r.imatrix() != null) inputs.add(r.imatrix());
        if (!r.dryRun()) OutputPaths.checkFile(r.output(), inputs);
        if (r.recipe() != null) OutputPaths.checkFile(r.recipe(), inputs);
        Path tablePath = r.sensitivityOrDefault();
        Path work = null;
        Opened open = new Opened();
        try (CpuThreads pool = new CpuThreads(r.threads())) {
            InputFiles.requireRegular(r.text(), "text file");
            ImatrixInput im = r.imatrix() == null ? null : ImatrixInput.load(r.imatrix(), r.imatrix().toString(), ImatrixFilter.ALL);
            GgufShards in = GgufShards.open(r.input());
            open.add(in);
            ModelSource src = ModelSources.open(r.input());
            open.add(src);
            GemmaConfig config = GemmaConfig.of(src);
            GemmaWeights weights = GemmaWeights.load(src, config);
            int[] tokens = tokenize(r, src);
            LlamaVocab vocab = Tokenizer.fromMetadata(src.metadata()).vocab();
            int bos = vocab.addBos() ? vocab.bos() : -1;
            // the reference's distributions: needed to measure and to evaluate the written mix, not for a dry run of a
            // table that exists. Its session stays open: the measurement swaps tensors into it where it can, and on a
            // GPU the distributions stay on the device, where every measured model is scored.
            Reference reference = new Reference(() -> {
                ctx.progress().begin("reference", r.chunks(), "chunks");
                try {
                    ForwardSession s = open.add(session(src, config, weights, r, pool, ctx));
                    return new Calibrated(s, open.add(CalibrationKld.of(s, tokens, r.nCtx(), r.chunks(), bos)));
                } finally {
                    ctx.progress().end();
                }
            });

            SensitivityTable table;
            boolean reused = Files.exists(tablePath);
            int evaluations = 0, inPlace = 0;
            long measureStart = System.nanoTime();
            if (reused) {
                table = SensitivityTable.read(tablePath);
                checkTable(table, r, tablePath, dev.requant.runtime.eval.Evaluator.chunkCount(tokens.length, r.nCtx(), r.chunks()));
            } else {
                Calibrated cal = reference.get();
                work = Files.createTempDirectory(r.output().toAbsolutePath().getParent(), ".requant-mix-");
                MixSensitivity.Measured m = MixSensitivity.measure(r, ctx, in, src, config, weights, im, cal.kld(), cal.session(), pool,
                        work, open);
                table = m.table();
                evaluations = m.evaluations();
                inPlace = m.inPlace();
                try (AtomicFile f = AtomicFile.create(tablePath)) {
                    f.channel().write(ByteBuffer.wrap(table.toJson().getBytes(StandardCharsets.UTF_8)));
                    f.commit();
                }
            }
            double measureSeconds = (System.nanoTime() - measureStart) / 1e9;

            // the budget: weights of the whole model; fixed bytes of the tensors the mix does not choose
            QuantizeSettings probeSettings = settings(FileType.Q8_0, im, r.threads(), List.of());
            QuantizePlan whole = QuantizePlanner.plan(in, probeSettings);
            if (reused) {
                // a table of another model under the same file name: its tensors are not the ones llama-quantize quantizes here
                List<String> want = whole.tensors().stream().filter(t -> t.decision().quantizable()).map(PlannedQuantTensor::name).toList();
                List<String> have = table.tensors().stream().map(TensorSensitivity::name).toList();
                if (!new java.util.HashSet<>(want).equals(new java.util.HashSet<>(have))) {
                    throw new BadInputException(tablePath + ": its tensors are not the quantized tensors of " + r.input()
                            + " (a table of another model?); give another --sensitivity file");
                }
            }
            Set<String> allowed = allowedLabels(table, r);
            int alignment = whole.metadata().alignment();
            boolean padded = r.budget().padded();
            long fixed = 0;
            for (PlannedQuantTensor t : whole.tensors()) {
                if (table.tensor(t.name()) == null) fixed += padded ? GgufFile.pad(t.output().byteSize(), alignment) : t.output().byteSize();
            }
            long header = GgufWriter.encodeHeader(whole.metadata(), whole.outputSpecs()).length;
            long budget = r.budget().tensorBytes(whole.elements(), header) - fixed;
            List<MixSolver.Unit> units = MixSolver.units(table, allowed, o -> padded ? GgufFile.pad(o.bytes(), alignment) : o.bytes());
            MixSolver.Solution sol;
            try {
                sol = MixSolver.solve(units, budget);
            } catch (MixSolver.InfeasibleBudgetException e) {
                long minTotal = e.minimumBytes() + fixed;
                throw new BadInputException(r.input() + ": the target " + r.budget() + " is below the smallest mix of the menu "
                        + String.format(java.util.Locale.ROOT, "(%.4f BPW, %d tensor bytes)", minTotal * 8.0 / whole.elements(), minTotal)
                        + "; allow smaller types (--allow-types) or raise the target");
            }

            Map<String, GgmlType> types = new LinkedHashMap<>();
            Set<String> lattice = new LinkedHashSet<>();
            Map<GgmlType, Long> perType = new TreeMap<>();
            List<Row> rows = new ArrayList<>();
            for (PlannedQuantTensor t : whole.tensors()) {
                TensorSensitivity ts = table.tensor(t.name());
                if (ts == null) continue;
                MixOption o = ts.option(sol.choice().get(t.name()));
                types.put(t.name(), o.requested());
                if (o.lattice()) lattice.add(t.name());
                perType.merge(o.output(), o.bytes(), Long::sum);
                rows.add(new Row(t.name(), o.label(), o.output(), o.bytes(), table.cost(ts, o), ts.inputBytes()));
            }
            MixRecipe recipe = new MixRecipe(types, lattice, MixRecipe.fileTypeFor(perType));
            if (r.recipe() != null) {
                try (AtomicFile f = AtomicFile.create(r.recipe())) {
                    f.channel().write(ByteBuffer.wrap(recipe.text().getBytes(StandardCharsets.UTF_8)));
                    f.commit();
                }
            }
            QuantizePlan plan = QuantizePlanner.plan(in, settings(recipe.fileType(), im, r.threads(), recipe.overrides()));
            for (PlannedQuantTensor t : plan.tensors()) {
                Row row = rows.stream().filter(x -> x.name().equals(t.name())).findFirst().orElse(null);
                if (row != null && row.output() != t.output().type()) {
                    throw new IllegalStateException(t.name() + ": the recipe gives " + t.output().type() + ", the table says " + row.output());
                }
            }
            if (!plan.problems().isEmpty()) throw new BadInputException(plan.firstProblemMessage());
            long tensorBytes = plan.outputBytes();
            long fileBytes = GgufWriter.encodeHeader(plan.metadata(), plan.outputSpecs()).length;
            for (PlannedQuantTensor t : plan.tensors()) fileBytes += GgufFile.pad(t.output().byteSize(), alignment);
            double kld = Double.NaN;
            if (!r.dryRun()) {
                ctx.progress().begin("write mix", Math.max(1, plan.elements() / 1_000_000), "M weights");
                write(plan, r.output(), lattice, ctx);
                ctx.progress().end();
                fileBytes = Files.size(r.output());
                CalibrationKld calib = reference.get().kld();
                ctx.progress().begin("eval mix", calib.chunks(), "chunks");
                try (ModelSource mixSrc = ModelSources.open(r.output());
                     ForwardSession s = session(mixSrc, config, GemmaWeights.load(mixSrc, GemmaConfig.of(mixSrc)), r, pool, ctx)) {
                    kld = calib.meanKld(s);
                }
                ctx.progress().end();
            }
            double rho = table.mode() == SensitivityTable.Mode.MEASURED ? table.proxyRankCorrelation(table.probe()) : Double.NaN;
            return new Result(r.output(), recipe, rows, tensorBytes, fileBytes, plan.elements(), budget + fixed, sol.cost(), kld,
                    Math.exp(table.referenceNll()), table, tablePath, reused, rho, evaluations, inPlace, measureSeconds,
                    (System.nanoTime() - start) / 1e9, sol);
        } catch (Exception e) {
            throw OperationException.of(e);
        } finally {
            open.close();
            if (work != null) deleteTree(work);
        }
    }

    /** The labels the solver may choose: the menu's types (and the lattice, with --qat), among what the table has. */
    private static Set<String> allowedLabels(SensitivityTable table, Request r) throws BadInputException {
        Set<String> have = new LinkedHashSet<>();
        for (TensorSensitivity t : table.tensors()) for (MixOption o : t.options()) have.add(o.label());
        if (r.menu() == null) {
            Set<String> all = new LinkedHashSet<>(have);
            if (!r.qat()) all.removeIf(l -> l.endsWith(MixOption.LATTICE_SUFFIX));
            return all;
        }
        Set<String> allowed = new LinkedHashSet<>();
        for (GgmlType t : r.menu()) {
            if (!have.contains(t.ggmlName())) {
                throw new BadInputException(r.sensitivityOrDefault() + ": has no measurement of " + t.ggmlName()
                        + " (it was measured for " + String.join(", ", have) + "); delete it to measure again");
            }
            allowed.add(t.ggmlName());
        }
        if (r.qat()) for (String l : have) if (l.endsWith(MixOption.LATTICE_SUFFIX)) allowed.add(l);
        return allowed;
    }

    private static void checkTable(SensitivityTable t, Request r, Path file, int chunks) throws BadInputException {
        String name = r.input().getFileName().toString();
        if (!t.model().equals(name)) {
            throw new BadInputException(file + ": was measured for " + t.model() + ", not " + name + "; give another --sensitivity file");
        }
        if (t.nCtx() != r.nCtx() || t.chunks() != chunks) {
            throw new BadInputException(file + ": was measured with -c " + t.nCtx() + " on " + t.chunks() + " chunks, this run asks for -c "
                    + r.nCtx() + " on " + chunks + "; give the same settings or another --sensitivity file");
        }
    }

    /** The reference model's open session and its distributions on the calibration chunks. */
    record Calibrated(ForwardSession session, CalibrationKld kld) {}

    /** Runs the reference once, when first needed. */
    private static final class Reference {
        interface Run {
            Calibrated run() throws EnvironmentException;
        }

        private final Run run;
        private Calibrated calib;

        Reference(Run run) { this.run = run; }

        Calibrated get() throws EnvironmentException {
            if (calib == null) calib = run.run();
            return calib;
        }
    }


    /** llama-quantize's settings for the mix: the file type, the imatrix as given, one rule per tensor. */
    static QuantizeSettings settings(FileType type, ImatrixInput im, int threads, List<TensorTypeOverride> rules) {
        QuantizeSettings s = QuantizeSettings.of(type).withThreads(threads).withTensorTypes(rules);
        return im == null ? s : s.withImatrix(im);
    }

    private static void write(QuantizePlan plan, Path out, Set<String> lattice, OperationContext ctx) throws IOException {
        Quantize.write(plan, out, lattice, ctx);
    }

    /** Chunks per batch of a measuring session: 16 x 512 tokens keep a 262,144-token vocabulary's logits at 4 GiB. */
    private static final int MAX_CHUNKS_PER_BATCH = 16;

    static ForwardSession session(ModelSource src, GemmaConfig c, GemmaWeights w, Request r, CpuThreads pool, OperationContext ctx)
            throws EnvironmentException {
        try {
            // every chunk in one batch: a GPU session scores them together (the CPU runs them one by one anyway)
            return Sessions.open(r.device(), c, w, CalibrationKld.spec(r.nCtx(), Math.min(r.chunks(), MAX_CHUNKS_PER_BATCH)), pool,
                    line -> { });
        } catch (CudaUnavailableException e) {
            throw new EnvironmentException("--device cuda: " + e.getMessage(), e);
        }
    }

    private static int[] tokenize(Request r, ModelSource src) throws IOException, BadInputException {
        String s = InputFiles.readText(r.text(), "text file");
        int[] t = Tokenizer.fromMetadata(src.metadata()).encode(s, true, false);
        if (t.length < r.nCtx()) {
            throw new BadInputException(r.text() + " tokenizes to " + t.length + " tokens; -c " + r.nCtx() + " needs at least " + r.nCtx());
        }
        return t;
    }

    private static void deleteTree(Path dir) {
        try (var s = Files.walk(dir)) {
            s.sorted(java.util.Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException e) {
                    // a work file left behind is harmless; the next run makes its own folder
                }
            });
        } catch (IOException e) {
            // as above
        }
    }
}
