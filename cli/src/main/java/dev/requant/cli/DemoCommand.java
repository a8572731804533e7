package dev.requant.cli;

import dev.requant.formats.TerminalText;
import dev.requant.converter.qat.QatPolicy;
import dev.requant.formats.gguf.FileType;
import dev.requant.formats.tokenizer.SentencePieceModel;
import dev.requant.ops.OperationContext;
import dev.requant.ops.OperationException;
import dev.requant.ops.convert.Convert;
import dev.requant.ops.eval.Eval;
import dev.requant.ops.qat.QatAnalysis;
import dev.requant.testmodels.QatWeights;
import dev.requant.testmodels.SentencePieceTrainer;
import dev.requant.testmodels.SyntheticCheckpoint;
import dev.requant.testmodels.WeightGenerator;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The main job on a bundled default: a quantization-aware-trained Gemma 3 checkpoint (synthetic, generated here with a
 * tokenizer trained on the bundled text) goes through the requant commands a user would run, ending in the comparison
 * the project exists for: Q4_0 that keeps the QAT lattice against llama.cpp's Q4_0 and Q8_0, measured by KL
 * divergence against BF16.
 */
@Command(addMethodSubcommands = false, name = "demo", mixinStandardHelpOptions = true,
        header = "Run the main job on a bundled default: a synthetic QAT Gemma 3 through qat-report, four conversions and eval.",
        description = {
            "Run requant's main job on a bundled default: a synthetic QAT Gemma 3 checkpoint is checked (qat-report),",
            "converted to BF16, Q8_0, llama.cpp-rule Q4_0 and lattice Q4_0 (convert), and compared by KL divergence",
            "against BF16 on the bundled text (eval). Every step prints the command it runs."
        })
final class DemoCommand implements Callable<Integer> {
    static final String TEXT = "demo/README.md";

    @Option(names = "--dir", paramLabel = "DIR", defaultValue = "requant-demo",
            description = "Working folder for the checkpoint and the GGUF files (created; default: ${DEFAULT-VALUE}).")
    Path dir;

    @Option(names = "--threads", paramLabel = "N", description = "Threads (default: all cores).")
    Integer threads;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws IOException, OperationException {
        PrintWriter out = spec.commandLine().getOut();
        Files.createDirectories(dir);
        String text = bundledText();
        Path textFile = dir.resolve("text.md");
        Files.writeString(textFile, text);
        Path hf = dir.resolve("qat-gemma3-hf");
        if (!Files.isRegularFile(hf.resolve("config.json"))) {
            out.printf("# 1. A Gemma 3 checkpoint trained onto a Q4_0 lattice (synthetic: 6 layers, hidden 256, learned scales held in BF16),%n"
                    + "#    with a SentencePiece tokenizer trained on %s -> %s%n", TEXT, hf);
            out.flush();
            SentencePieceModel tokenizer = SentencePieceTrainer.train(text, 768);
            QatWeights.Assignment qat = QatWeights.Assignment.of(QatWeights.ScaleRule.LEARNED, QatWeights.ScaleDtype.BF16);
            SyntheticCheckpoint.gemma3().tokenizer(tokenizer)
                    .weights(QatWeights.generator(2026, 0.02f, name -> qat, WeightGenerator.hashed(2026)))
                    .write(hf);
        } else {
            out.printf("# 1. Reusing the checkpoint in %s%n", TerminalText.escape(hf));
        }
        int t = threads != null ? threads : Runtime.getRuntime().availableProcessors();
        OperationContext ctx = CliContext.of(spec.commandLine().getErr(), true);
        Path bf16 = dir.resolve("model-bf16.gguf"), q8 = dir.resolve("model-q8_0.gguf");
        Path q4Llama = dir.resolve("model-q4_0-llamacpp.gguf"), q4Lattice = dir.resolve("model-q4_0-lattice.gguf");

        step(out, "# 2. Which tensors were QAT'd for Q4_0?", "qat-report " + hf);
        QatReportCommand.print(hf, new QatAnalysis().run(new QatAnalysis.Request(hf, 0, t), ctx).report(), 0, false, out);

        step(out, "# 3. Convert: BF16 (the reference), Q8_0, Q4_0 with llama.cpp's rule, Q4_0 on the recovered lattice",
                "convert " + hf + " -o " + bf16 + " --type bf16");
        Convert convert = new Convert();
        ConvertCommand.printResult(convert.run(Convert.Request.of(hf, bf16, FileType.BF16).withThreads(t), ctx), out);
        step(out, null, "convert " + hf + " -o " + q8 + " --type q8_0 --threads " + t);
        ConvertCommand.printResult(convert.run(Convert.Request.of(hf, q8, FileType.Q8_0).withThreads(t), ctx), out);
        step(out, null, "convert " + hf + " -o " + q4Llama + " --type q4_0 --qat off --threads " + t);
        ConvertCommand.printResult(convert.run(Convert.Request.of(hf, q4Llama, FileType.Q4_0).withQat(QatPolicy.Mode.OFF).withThreads(t), ctx), out);
        step(out, null, "convert " + hf + " -o " + q4Lattice + " --type q4_0 --threads " + t);
        ConvertCommand.printResult(convert.run(Convert.Request.of(hf, q4Lattice, FileType.Q4_0).withThreads(t), ctx), out);

        Path plot = dir.resolve("kld.png");
        step(out, "# 4. What each quantization cost: KL divergence and same-top-token against BF16 (llama-perplexity's definitions)",
                "eval --base " + bf16 + " --compare " + q8 + " " + q4Llama + " " + q4Lattice + " --text " + textFile + " -c 128 --threads " + t
                        + " --plot " + plot);
        Eval.Result eval = new Eval().run(new Eval.Request(bf16, List.of(q8, q4Llama, q4Lattice), textFile, 128, -1, null, dev.requant.cuda.ComputeDevice.CPU, t), ctx);
        EvalReport.print(eval.result(), eval.backend(), out);
        EvalPlot.write(eval.result(), plot);
        out.printf("%nThe lattice Q4_0 file holds the trained codes and scales: its values q*d, rounded to BF16, are the checkpoint's"
                + "%nweights bit for bit (what divergence remains is the BF16 rounding the checkpoint itself applied), while llama.cpp's"
                + "%nQ4_0 rule re-quantizes them. Files and a KLD chart (kld.png) are in %s.%n", dir);
        out.flush();
        return 0;
    }

    /** Prints a step's heading and the requant command that does the same by hand. */
    private static void step(PrintWriter out, String heading, String command) {
        if (heading != null) out.printf("%n%s%n", heading);
        out.printf("$ requant %s%n", command);
        out.flush();
    }

    /** The text bundled in the jar (the project's README as of the build). */
    static String bundledText() throws IOException {
        try (InputStream in = DemoCommand.class.getResourceAsStream(TEXT)) {
            if (in == null) throw new IOException("the bundled demo text " + TEXT + " is missing from the jar");
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }
}
