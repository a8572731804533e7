package dev.requant.cli;

import dev.requant.formats.TerminalText;
import dev.requant.ops.OperationException;
import dev.requant.ops.export.Export;
import dev.requant.converter.export.ExportSettings;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(addMethodSubcommands = false, name = "export", mixinStandardHelpOptions = true,
        description = {
            "Write a Gemma 3 / Gemma 4 GGUF back as a Hugging Face folder: config.json, tokenizer files, model card and safetensors shards.",
            "Dense weights in BF16 (or --dtype f32): BF16 tensors are copied, quantized ones decoded exactly; NVFP4 weights become a",
            "ModelOpt NVFP4 checkpoint with the same codes and scales. The folder converts back to the same GGUF."
        })
final class ExportCommand implements Callable<Integer> {
    @Parameters(paramLabel = "MODEL.gguf", description = "GGUF file written for llama.cpp's gemma3 or gemma4 architecture.")
    Path gguf;

    @Option(names = {"-o", "--outdir"}, paramLabel = "HF_DIR", description = "Output folder (must not exist, or be empty; not needed with --dry-run).")
    Path out;

    @Option(names = "--dtype", paramLabel = "bf16|f32", defaultValue = "bf16", description = "Type of the dense weights. Default: ${DEFAULT-VALUE}.")
    String dtype;

    @Option(names = "--hf-class", paramLabel = "CLASS",
            description = "transformers class for config.json: Gemma3ForCausalLM, Gemma4ForCausalLM or Gemma4UnifiedForCausalLM "
                    + "(default: from the GGUF; Gemma 4 files with suppress_tokens are the unified family).")
    String hfClass;

    @Option(names = "--nvfp4", paramLabel = "keep|dequantize", defaultValue = "keep",
            description = "NVFP4 weights: keep them (ModelOpt NVFP4 folder) or dequantize them to --dtype. Default: ${DEFAULT-VALUE}.")
    String nvfp4;

    @Option(names = "--max-shard-size", paramLabel = "SIZE", defaultValue = "5GB",
            description = "Most tensor bytes per safetensors file (e.g. 5GB, 500MB). Default: ${DEFAULT-VALUE}.")
    String maxShardSize;

    @Option(names = "--dry-run", description = "Print what each GGUF tensor becomes and write nothing.")
    boolean dryRun;

    @Option(names = "--no-progress", description = "No progress bar on stderr.")
    boolean noProgress;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws OperationException {
        ExportSettings settings;
        try {
            boolean keep = switch (nvfp4.toLowerCase(Locale.ROOT)) {
                case "keep" -> true;
                case "dequantize" -> false;
                default -> throw new IllegalArgumentException("--nvfp4: choose keep or dequantize, not '" + nvfp4 + "'");
            };
            settings = new ExportSettings(ExportSettings.Dtype.parse(dtype), hfClass, keep, parseSize(maxShardSize));
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
        }
        if (!dryRun && out == null) throw new CommandLine.ParameterException(spec.commandLine(), "missing -o HF_DIR (or use --dry-run)");
        PrintWriter stdout = spec.commandLine().getOut();
        var ctx = CliContext.of(spec.commandLine().getErr(), noProgress);
        Export export = new Export();
        Export.Request request = new Export.Request(gguf, out, settings);
        if (dryRun) {
            try (Export.Planned p = export.plan(request, ctx)) {
                stdout.printf("%s (%s) -> %s, %d safetensors file(s), %s%n", TerminalText.escapeEach(gguf, p.plan().arch().ggufName(), p.plan().hfClass(),
                        p.plan().shards().size(), String.join(", ", p.plan().files().keySet())));
                p.plan().describe().forEach(line -> stdout.println(TerminalText.escape(line)));
            }
            stdout.flush();
            return 0;
        }
        Export.Result r = export.run(request, ctx);
        stdout.printf("%s: %s, %d tensors in %d file(s), %d bytes (%.1f s)%n", TerminalText.escapeEach(r.output(), r.hfClass(), r.summary().tensors(), r.files(),
                r.summary().bytes(), r.seconds()));
        stdout.flush();
        return 0;
    }

    /** "5GB", "500MB", "1GiB" or plain bytes, as transformers' max_shard_size. */
    static long parseSize(String s) {
        String t = s.trim().toUpperCase(Locale.ROOT);
        long mult = 1;
        for (String[] u : new String[][] {{"GIB", "1073741824"}, {"MIB", "1048576"}, {"KIB", "1024"}, {"GB", "1000000000"}, {"MB", "1000000"}, {"KB", "1000"}, {"B", "1"}}) {
            if (t.endsWith(u[0])) {
                mult = Long.parseLong(u[1]);
                t = t.substring(0, t.length() - u[0].length()).trim();
                break;
            }
        }
        try {
            long v = Math.multiplyExact(Long.parseLong(t), mult);
            if (v <= 0) throw new NumberFormatException();
            return v;
        } catch (NumberFormatException | ArithmeticException e) {
            throw new IllegalArgumentException("--max-shard-size: '" + s + "' is not a size like 5GB or 500MB");
        }
    }
}
