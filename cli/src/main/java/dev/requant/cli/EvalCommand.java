package dev.requant.cli;

import dev.requant.cuda.ComputeDevice;
import dev.requant.formats.io.AtomicFile;
import dev.requant.ops.OperationException;
import dev.requant.ops.OutputPaths;
import dev.requant.ops.eval.Eval;
import dev.requant.runtime.GpuWeights;
import dev.requant.runtime.eval.EvalResult;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(addMethodSubcommands = false, name = "eval", mixinStandardHelpOptions = true,
        header = "Measure the perplexity and KL divergence of models against a reference, as llama-perplexity does.",
        description = {
            "Perplexity and KL-divergence of models against a reference, with llama-perplexity's definitions.",
            "The text is tokenized (BOS added, special tokens not parsed) and cut into chunks of -c tokens; each chunk",
            "starts from an empty cache with its first token replaced by BOS, and only its second half is scored.",
            "Reports PPL, ln(PPL(Q)/PPL(base)), mean KLD with percentiles, same-top-token %% and RMS Δp per model.",
            "REF and Q may be GGUF files or Hugging Face folders; REF may also be a logits file written by --save-base",
            "or by llama-perplexity --kl-divergence-base (then KLD uses its 16-bit log-probs, as llama.cpp does)."
        })
final class EvalCommand implements Callable<Integer> {
    @Option(names = "--base", paramLabel = "REF",
            description = "Reference: a .gguf file, a Hugging Face folder, or a logits file (--save-base / --kl-divergence-base).")
    Path base;

    @Option(names = "--compare", arity = "1..*", paramLabel = "Q",
            description = "Models to compare with the reference (.gguf files or Hugging Face folders).")
    List<Path> compare = new ArrayList<>();

    @Option(names = {"-m", "--model"}, paramLabel = "MODEL",
            description = {"As llama-perplexity -m: alone, the perplexity of MODEL; with --base, one more model to compare;",
                "with --kl-divergence-base FILE, the model whose log-probs are saved to FILE (the base run),",
                "or, with --kl-divergence too, the model compared with FILE."})
    Path model;

    @Option(names = "--kl-divergence-base", paramLabel = "FILE",
            description = "As llama-perplexity: the logits file to write (with -m) or, with --kl-divergence, to compare against.")
    Path klBase;

    @Option(names = "--kl-divergence", description = "As llama-perplexity: compare -m MODEL with the --kl-divergence-base FILE.")
    boolean klDivergence;

    @Option(names = {"-f", "--text"}, paramLabel = "FILE", description = "UTF-8 text to evaluate on (not needed with a logits-file reference).")
    Path text;

    @Option(names = {"-c", "--ctx-size"}, paramLabel = "N", defaultValue = "512", description = "Tokens per chunk (default ${DEFAULT-VALUE}).")
    int nCtx;

    @Option(names = "--chunks", paramLabel = "N", defaultValue = "-1", description = "Evaluate at most N chunks (default: all).")
    int chunks;

    @Option(names = {"-t", "--threads"}, paramLabel = "N", description = "CPU threads (default: all cores).")
    Integer threads;

    @Option(names = "--device", paramLabel = "DEVICE", defaultValue = "auto",
            description = "Where the models run: ${COMPLETION-CANDIDATES}; cuda is an NVIDIA GPU, auto the GPU when one is usable (default ${DEFAULT-VALUE}).")
    ComputeDevice device;

    @Option(names = "--gpu-weights", paramLabel = "WHERE", defaultValue = "auto",
            description = "GPU: where the weights live: resident (all on the GPU), stream (layers in pinned host memory,"
                    + " the next layer uploading while this one computes; same results), auto (resident when they fit,"
                    + " else the layers that do not fit stream) (default ${DEFAULT-VALUE}).")
    GpuWeights gpuWeights;

    @Option(names = "--json", paramLabel = "OUT", description = "Also write every statistic as JSON to OUT ('-': JSON alone on stdout, no table).")
    Path json;

    @Option(names = "--plot", paramLabel = "OUT.png", description = "Also draw the KLD distribution and same-top-token chart to a PNG.")
    Path plot;

    @Option(names = "--save-base", paramLabel = "FILE",
            description = "Write the reference's log-probs in llama.cpp's --kl-divergence-base format, for later --base FILE runs.")
    Path saveBase;

    @Option(names = "--no-progress", description = "No progress bar on stderr.")
    boolean noProgress;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws OperationException, IOException {
        llamaPerplexityForm();
        // the files written after the evaluation are checked before it starts
        List<Path> inputs = new ArrayList<>(compare);
        inputs.add(base);
        if (json != null && !json.toString().equals("-")) OutputPaths.checkFile(json, inputs);
        OutputPaths.checkFile(plot, inputs);
        int nThreads = threads != null ? threads : Runtime.getRuntime().availableProcessors();
        Eval.Result r = new Eval().run(new Eval.Request(base, compare, text, nCtx, chunks, saveBase, device, nThreads, gpuWeights),
                CliContext.of(spec.commandLine().getErr(), noProgress));
        EvalResult result = r.result();
        PrintWriter out = spec.commandLine().getOut();
        boolean jsonToStdout = json != null && json.toString().equals("-");
        if (!jsonToStdout) EvalReport.print(result, r.backend(), out); // with --json -, stdout is JSON only
        // the forward passes' own clock, as llama-perplexity's "seconds per pass" (loading and upload excluded)
        spec.commandLine().getErr().printf(java.util.Locale.ROOT, "eval: %d tokens in %.2f s: %.1f tokens/s (loading excluded)%n",
                r.tokens(), r.seconds(), r.tokensPerSecond());
        if (r.peakDeviceBytes() > 0) {
            spec.commandLine().getErr().printf(java.util.Locale.ROOT, "eval: peak GPU memory %.2f GiB%n", r.peakDeviceBytes() / (double) (1L << 30));
        }
        out.flush();
        if (json != null) writeJson(result);
        if (plot != null) EvalPlot.write(result, plot);
        return 0;
    }

    /** llama-perplexity's -m / --kl-divergence-base / --kl-divergence, mapped onto --base, --compare and --save-base. */
    private void llamaPerplexityForm() {
        if (klDivergence && (klBase == null || model == null)) throw usage("--kl-divergence needs -m MODEL and --kl-divergence-base FILE");
        if (model != null) {
            if (klBase != null && klDivergence) {
                if (base != null) throw usage("--kl-divergence compares with the --kl-divergence-base file; drop --base");
                base = klBase;
                compare.addFirst(model);
            } else if (klBase != null) {
                if (base != null || saveBase != null) throw usage("-m with --kl-divergence-base writes the base; drop --base / --save-base");
                base = model;
                saveBase = klBase;
            } else if (base != null) {
                compare.addFirst(model);
            } else {
                base = model; // the perplexity of one model
            }
        } else if (klBase != null) {
            throw usage("--kl-divergence-base needs -m MODEL");
        }
        if (base == null) throw usage("give --base REF and --compare Q... (or -m MODEL as llama-perplexity)");
    }

    private CommandLine.ParameterException usage(String message) {
        return new CommandLine.ParameterException(spec.commandLine(), message);
    }

    private void writeJson(EvalResult r) throws IOException {
        ObjectMapper m = PrettyJson.mapper();
        Object tree = EvalReport.toJson(r);
        if (json.toString().equals("-")) {
            PrintWriter out = spec.commandLine().getOut();
            out.println(m.writeValueAsString(tree));
            out.flush();
            return;
        }
        java.nio.ByteBuffer bytes = java.nio.ByteBuffer.wrap(m.writeValueAsBytes(tree));
        try (AtomicFile f = AtomicFile.create(json)) {
            while (bytes.hasRemaining()) f.channel().write(bytes);
            f.commit();
        }
    }

}
