package dev.requant.cli;

import dev.requant.formats.TerminalText;
import dev.requant.converter.Nvfp4Recipe;
import dev.requant.formats.gguf.FileType;
import dev.requant.formats.nvfp4.Nvfp4Format;
import dev.requant.ops.OperationException;
import dev.requant.ops.nvfp4.QuantizeNvfp4;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(addMethodSubcommands = false, name = "quantize-nvfp4", mixinStandardHelpOptions = true,
        header = "Quantize a BF16 Hugging Face folder to NVFP4 with ModelOpt's math.",
        description = {
            "Quantize a BF16 Gemma 3/4 Hugging Face folder to NVFP4 (which llama.cpp cannot do), with NVIDIA ModelOpt's math:",
            "weight_scale_2 = amax/(6*448), block scale = e4m3(block_amax/(6*weight_scale_2)), codes nearest E2M1 (ModelOpt's ties).",
            "Writes a ModelOpt or compressed-tensors checkpoint (vLLM, TensorRT-LLM, requant convert read them) or a GGUF.",
            "--imatrix picks each block scale by importance-weighted error; --text calibrates activation scales (input_scale, W4A4);",
            "without it the checkpoint is weight-only (W4A16_NVFP4)."
        })
final class QuantizeNvfp4Command implements Callable<Integer> {
    @Parameters(paramLabel = "HF_DIR", description = "BF16 (or F16/F32) Hugging Face Gemma folder.")
    Path dir;

    @Option(names = {"-o", "--output"}, required = true, paramLabel = "OUT", description = "Output folder (checkpoint formats) or .gguf file (--format gguf).")
    Path out;

    /** The output layouts; picocli matches the names case-insensitively, with - for _. */
    enum OutputFormat {
        MODELOPT, COMPRESSED_TENSORS, GGUF;

        String label() { return name().toLowerCase(java.util.Locale.ROOT).replace('_', '-'); }
    }

    @Option(names = "--format", paramLabel = "FMT", defaultValue = "modelopt", converter = FormatConverter.class,
            description = "modelopt (hf_quant_config.json + config.json quantization_config), compressed-tensors (nvfp4-pack-quantized) or gguf. Default: ${DEFAULT-VALUE}.")
    OutputFormat format;

    static final class FormatConverter implements CommandLine.ITypeConverter<OutputFormat> {
        @Override public OutputFormat convert(String s) {
            for (OutputFormat f : OutputFormat.values()) if (f.label().equalsIgnoreCase(s) || f.name().equalsIgnoreCase(s)) return f;
            throw new CommandLine.TypeConversionException("choose modelopt, compressed-tensors or gguf, not '" + s + "'");
        }
    }

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

    @Option(names = "--nvfp4-fallback", paramLabel = "TYPE", converter = TypeNames.ConvertType.class,
            description = "--format gguf: as requant convert --nvfp4-fallback.")
    FileType nvfp4Fallback;

    @Option(names = {"-t", "--threads"}, paramLabel = "N", description = "CPU threads for calibration (default: all cores).")
    Integer threads;

    @Option(names = "--no-progress", description = "No progress bar on stderr.")
    boolean noProgress;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws OperationException {
        Nvfp4Recipe r;
        try {
            r = Nvfp4Recipe.parse(recipe);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--recipe: " + e.getMessage());
        }
        Nvfp4Format f = switch (format) {
            case MODELOPT -> Nvfp4Format.MODELOPT;
            case COMPRESSED_TENSORS -> Nvfp4Format.COMPRESSED_TENSORS;
            case GGUF -> null;
        };
        QuantizeNvfp4.Result res = new QuantizeNvfp4().run(new QuantizeNvfp4.Request(dir, out, f, r, exclude, imatrix, text, nCtx, chunks,
                nvfp4Fallback, threads != null ? threads : Runtime.getRuntime().availableProcessors()),
                CliContext.of(spec.commandLine().getErr(), noProgress));
        PrintWriter stdout = spec.commandLine().getOut();
        stdout.printf("%s: %d weights NVFP4 (%s%s%s), %d modules left out, %s (%.1f s)%n", TerminalText.escapeEach(res.output(), res.weights(), res.recipe(),
                res.imatrix() ? ", imatrix" : "", res.calibrated() ? ", W4A4 input scales from " + text.getFileName() : ", weight-only W4A16",
                res.excluded(), format.label(), res.seconds()));
        stdout.flush();
        return 0;
    }
}
