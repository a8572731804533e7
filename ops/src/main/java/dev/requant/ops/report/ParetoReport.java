package dev.requant.ops.report;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import dev.requant.converter.quantize.QuantizeSettings;
import dev.requant.converter.quantize.mix.SensitivityTable;
import dev.requant.converter.quantize.mix.SizeBudget;
import dev.requant.cuda.ComputeDevice;
import dev.requant.formats.gguf.FileType;
import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.imatrix.ImatrixFilter;
import dev.requant.ops.BadInputException;
import dev.requant.ops.Operation;
import dev.requant.ops.OperationContext;
import dev.requant.ops.OperationException;
import dev.requant.ops.eval.Eval;
import dev.requant.ops.quantize.Quantize;
import dev.requant.ops.quantize.QuantizeMix;
import dev.requant.runtime.eval.EvalResult;
import dev.requant.runtime.eval.KldReport;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * {@code report}: size against KL divergence for one model -- llama.cpp's standard file types without and with the
 * imatrix, and requant's measured mixes at several budgets (by default at the size of each standard type made with
 * the imatrix) -- every file evaluated against the unquantized model on the same text in one eval run. The files stay
 * in the report's folder; one that is already there (from an earlier run) is used as it is.
 */
public final class ParetoReport implements Operation<ParetoReport.Request, ParetoReport.Result> {
    private static final Logger LOG = LoggerFactory.getLogger(ParetoReport.class);
    public static final List<FileType> DEFAULT_TYPES = List.of(FileType.Q3_K_M, FileType.Q4_0, FileType.IQ4_XS, FileType.Q4_K_M,
            FileType.Q5_K_M, FileType.Q6_K, FileType.Q8_0);

    /**
     * @param calibration the mixes' calibration text (their sensitivity is measured on it)
     * @param evalText the text every file is evaluated on (held-out text, not the calibration's)
     * @param mixBpw the mixes' targets in bits per weight; empty: one at each standard type's size with the imatrix
     * @param mixChunks calibration chunks of the mixes' measurement, of {@code mixCtx} tokens
     * @param evalChunks chunks of the eval, of {@code nCtx} tokens (-1: all)
     */
    public record Request(Path input, Path imatrix, Path calibration, Path evalText, Path folder, List<FileType> types, List<Double> mixBpw,
                          int mixCtx, int mixChunks, SensitivityTable.Mode mode, int nCtx, int evalChunks, ComputeDevice device, int threads) {
        public Request {
            types = List.copyOf(types);
            mixBpw = List.copyOf(mixBpw);
        }
    }

    /** The kinds of points on the chart. */
    public enum Kind {
        STATIC("llama.cpp file type"), IMATRIX("llama.cpp file type + imatrix"), MIX("requant mix");

        private final String label;

        Kind(String label) { this.label = label; }

        public String label() { return label; }
    }

    /** One file: its size (tensor bytes as BPW, and the file) and its divergence from the reference. */
    public record Point(String name, Kind kind, Path file, long fileBytes, double bitsPerWeight, KldReport report) {}

    public record Result(List<Point> points, EvalResult eval, String backend, double seconds) {}

    @Override
    public Result run(Request r, OperationContext ctx) throws OperationException {
        long start = System.nanoTime();
        if (!Files.exists(r.input())) throw new BadInputException(r.input() + ": no such file");
        if (r.imatrix() == null) throw new BadInputException("--imatrix FILE is required: the report compares files made with and without it");
        try {
            if (Files.exists(r.folder()) && !Files.isDirectory(r.folder())) throw new BadInputException(r.folder() + ": exists and is not a folder");
            Files.createDirectories(r.folder());
            record Made(String name, Kind kind, Path file) {}
            List<Made> made = new ArrayList<>();
            List<Double> bpwAtImatrix = new ArrayList<>();
            for (FileType t : r.types()) {
                if (!t.needsImatrix()) {
                    Path f = r.folder().resolve(t.name() + ".gguf");
                    quantize(r, t, f, null, ctx);
                    made.add(new Made(t.name(), Kind.STATIC, f));
                }
                Path fi = r.folder().resolve(t.name() + ".imatrix.gguf");
                quantize(r, t, fi, r.imatrix(), ctx);
                made.add(new Made(t.name() + "+imatrix", Kind.IMATRIX, fi));
                bpwAtImatrix.add(bitsPerWeight(fi));
            }
            List<Double> targets = r.mixBpw().isEmpty() ? bpwAtImatrix : r.mixBpw();
            Path table = r.folder().resolve("sensitivity.json");
            for (double b : targets) {
                String name = String.format(Locale.ROOT, "mix-%.3f", b);
                Path f = r.folder().resolve(name + ".gguf");
                if (!Files.exists(f)) {
                    LOG.info("report: mix at " + String.format(Locale.ROOT, "%.3f", b) + " BPW");
                    QuantizeMix.Request mr = QuantizeMix.Request.of(r.input(), f, new SizeBudget.BitsPerWeight(b), r.imatrix(), r.calibration())
                            .withCalibration(r.mixCtx(), r.mixChunks()).withSensitivity(table, r.mode()).withThreads(r.threads()).withDevice(r.device());
                    new QuantizeMix().run(mr, ctx);
                }
                made.add(new Made(String.format(Locale.ROOT, "mix %.2f BPW", b), Kind.MIX, f));
            }
            LOG.info("report: evaluating " + made.size() + " files on " + r.evalText());
            Eval.Request er = new Eval.Request(r.input(), made.stream().map(Made::file).toList(), r.evalText(), r.nCtx(), r.evalChunks(), null,
                    r.device(), r.threads());
            Eval.Result e = new Eval().run(er, ctx);
            List<Point> points = new ArrayList<>();
            for (int i = 0; i < made.size(); i++) {
                Made m = made.get(i);
                points.add(new Point(m.name(), m.kind(), m.file(), Files.size(m.file()), bitsPerWeight(m.file()), e.result().compared().get(i).report()));
            }
            return new Result(points, e.result(), e.backend(), (System.nanoTime() - start) / 1e9);
        } catch (Exception e) {
            throw OperationException.of(e);
        }
    }

    private static void quantize(Request r, FileType t, Path out, Path imatrix, OperationContext ctx) throws OperationException {
        if (Files.exists(out)) return;
        QuantizeSettings s = QuantizeSettings.of(t).withThreads(r.threads());
        new Quantize().run(new Quantize.Request(r.input(), out, s, imatrix, ImatrixFilter.ALL), ctx);
    }

    /** Tensor bytes · 8 / weights, as llama-quantize's "quant size" line. */
    static double bitsPerWeight(Path file) throws java.io.IOException {
        try (GgufFile f = GgufFile.open(file)) {
            long bytes = 0, elements = 0;
            for (var t : f.tensors()) {
                bytes += t.byteSize();
                elements += t.spec().elementCount();
            }
            return bytes * 8.0 / elements;
        }
    }
}
