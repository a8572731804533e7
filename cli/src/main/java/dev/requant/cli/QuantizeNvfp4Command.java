package dev.requant.cli;

import dev.requant.converter.ConversionSettings;
import dev.requant.converter.HfModelSource;
import dev.requant.converter.Nvfp4Export;
import dev.requant.converter.Nvfp4Recipe;
import dev.requant.converter.OutType;
import dev.requant.formats.imatrix.ImatrixFilter;
import dev.requant.formats.imatrix.ImatrixImportance;
import dev.requant.formats.imatrix.ImatrixReader;
import dev.requant.formats.io.InputFiles;
import dev.requant.formats.nvfp4.Nvfp4Format;
import dev.requant.formats.tokenizer.Tokenizer;
import dev.requant.runtime.ActivationAmax;
import dev.requant.runtime.cpu.CpuModel;
import dev.requant.runtime.cpu.CpuSession;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "quantize-nvfp4", mixinStandardHelpOptions = true,
        description = {
            "Quantize a BF16 Gemma 3/4 Hugging Face folder to NVFP4 (which llama.cpp cannot do), with NVIDIA ModelOpt's math:",
            "weight_scale_2 = amax/(6*448), block scale = e4m3(block_amax/(6*weight_scale_2)), codes nearest E2M1 (ModelOpt's ties).",
            "Writes a ModelOpt or compressed-tensors checkpoint (vLLM, TensorRT-LLM, requant convert read them) or a GGUF.",
            "--imatrix picks each block scale by importance-weighted error; --text calibrates activation scales (input_scale, W4A4);",
            "without it the checkpoint is weight-only (W4A16_NVFP4)."
        })
final class QuantizeNvfp4Command implements Callable<Integer> {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(QuantizeNvfp4Command.class);

    @Parameters(paramLabel = "HF_DIR", description = "BF16 (or F16/F32) Hugging Face Gemma folder.")
    Path dir;

    @Option(names = {"-o", "--output"}, required = true, paramLabel = "OUT", description = "Output folder (checkpoint formats) or .gguf file (--format gguf).")
    Path out;

    @Option(names = "--format", paramLabel = "FMT", defaultValue = "modelopt",
            description = "modelopt (hf_quant_config.json + config.json quantization_config), compressed-tensors (nvfp4-pack-quantized) or gguf. Default: ${DEFAULT-VALUE}.")
    String format;

    @Option(names = "--imatrix", paramLabel = "FILE", description = "llama.cpp imatrix (GGUF or legacy .dat): importance-weighted block-scale search.")
    Path imatrix;

    @Option(names = "--exclude", paramLabel = "PATTERN", description = "Leave modules matching this fnmatch pattern in BF16 (repeatable), e.g. '*layers.0.*'.")
    List<String> exclude = new ArrayList<>();

    @Option(names = "--recipe", paramLabel = "R", defaultValue = "all",
            description = "all (attention and MLP projections), mlp-only, or protect-first-last=N. Default: ${DEFAULT-VALUE}.")
    String recipe;

    @Option(names = {"-f", "--text"}, paramLabel = "FILE", description = "Calibration text for the activation scales (input_scale).")
    Path text;

    @Option(names = {"-c", "--ctx-size"}, paramLabel = "N", defaultValue = "512", description = "Calibration chunk length in tokens (default ${DEFAULT-VALUE}).")
    int nCtx;

    @Option(names = "--chunks", paramLabel = "N", defaultValue = "16", description = "Calibration chunks (default ${DEFAULT-VALUE}).")
    int chunks;

    @Option(names = "--nvfp4-fallback", paramLabel = "TYPE", description = "--format gguf: as requant convert --nvfp4-fallback.")
    String nvfp4Fallback;

    @Option(names = "--threads", paramLabel = "N", description = "CPU threads for calibration (default: all cores).")
    Integer threads;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        String fmt = format.toLowerCase(Locale.ROOT);
        boolean gguf = fmt.equals("gguf");
        Nvfp4Format f = switch (fmt) {
            case "modelopt" -> Nvfp4Format.MODELOPT;
            case "compressed-tensors" -> Nvfp4Format.COMPRESSED_TENSORS;
            case "gguf" -> null;
            default -> throw new CommandLine.ParameterException(spec.commandLine(), "--format: choose modelopt, compressed-tensors or gguf");
        };
        Nvfp4Recipe r;
        try {
            r = Nvfp4Recipe.parse(recipe);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--recipe: " + e.getMessage());
        }
        OutType fallback = nvfp4Fallback == null ? null : OutType.parse(nvfp4Fallback);
        if (!Files.isDirectory(dir)) throw new NoSuchFileException(dir.toString(), null, "no such folder");
        if (Files.exists(out) && !(Files.isDirectory(out) && isEmpty(out))) throw new UserError(out + ": exists; choose a new output");
        Nvfp4Export.Selection sel = Nvfp4Export.select(dir, r, exclude);
        if (sel.weights().isEmpty()) throw new UserError(dir + ": recipe " + r + " with the exclusions selects no weight");
        ImatrixImportance imp = imatrix == null ? null : ImatrixImportance.of(ImatrixReader.read(imatrix), ImatrixFilter.ALL, imatrix);
        Map<String, Float> amax = text == null ? Map.of() : calibrate();
        PrintWriter stdout = spec.commandLine().getOut();
        long start = System.nanoTime();
        Nvfp4Export.write(dir, out, f, gguf, sel, imp, amax, new ConversionSettings.Nvfp4Options(fallback, false), q ->
                LOG.debug("{} [{} x {}] weight scale {}{}", q.sourceName(), q.rows(), q.cols(), q.weightScale(),
                        q.inputScale() == null ? "" : ", input scale " + q.inputScale()));
        stdout.printf("%s: %d weights NVFP4 (%s%s%s), %d modules left out, %s (%.1f s)%n", out, sel.weights().size(), r,
                imp != null ? ", imatrix" : "", amax.isEmpty() ? ", weight-only W4A16" : ", W4A4 input scales from " + text.getFileName(),
                sel.excluded().size(), gguf ? "gguf" : fmt, (System.nanoTime() - start) / 1e9);
        stdout.flush();
        return 0;
    }

    /** Runs the float model over the text and records each weight's largest input magnitude. */
    private Map<String, Float> calibrate() throws IOException {
        InputFiles.requireRegular(text, "text file");
        int n = threads != null ? threads : Runtime.getRuntime().availableProcessors();
        ActivationAmax amax = new ActivationAmax();
        try (HfModelSource src = HfModelSource.open(dir, ConversionSettings.of(OutType.BF16)); CpuModel model = CpuModel.load(src, n)) {
            int[] tokens = Tokenizer.fromMetadata(src.metadata()).encode(InputFiles.readText(text, "text file"), true, false);
            CpuSession s = model.newSession(nCtx);
            s.setObserver(amax);
            int done = 0;
            for (int off = 0; off + 1 < tokens.length && done < chunks; off += nCtx, done++) {
                int len = Math.min(nCtx, tokens.length - off);
                s.clear();
                s.decode(tokens, off, len, row -> true, (row, l, o) -> { }); // every row, as llama-imatrix: the last layer keeps only requested rows
                LOG.info("calibration chunk {} of at most {} ({} tokens)", done + 1, chunks, len);
            }
        }
        return amax.values();
    }

    private static boolean isEmpty(Path d) throws IOException {
        try (var s = Files.list(d)) {
            return s.findAny().isEmpty();
        }
    }
}
