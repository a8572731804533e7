package dev.requant.cli;

import dev.requant.testmodels.QatWeights;
import dev.requant.testmodels.SentencePieceTrainer;
import dev.requant.testmodels.SyntheticCheckpoint;
import dev.requant.testmodels.SyntheticGguf;
import dev.requant.testmodels.WeightGenerator;
import dev.requant.testmodels.SyntheticImatrix;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * The workload the ./requant launcher records its AOT cache from (JDK 25 {@code -XX:AOTCacheOutput}, JEP 483/514/515:
 * the classes a run loaded, linked, and the methods' profiles). A cache made from {@code --help} held start-up's
 * classes only; quantize then loaded and linked some hundreds more classes and ran its encoders interpreted until the
 * JIT had profiled them, a fixed cost that llama-quantize does not pay and that is most of a cheap type's run on a
 * small model. Here the quantize path runs the way a user's command does ({@link Main#run}, picocli included) on a tiny
 * synthetic model generated in a temporary folder (nothing of the user's, no golden file; removed afterwards), into
 * the cheap encoder families ({@link #RUNS}), a few seconds in all.
 *
 * <pre>java -XX:AOTCacheOutput=requant.aot -cp requant.jar dev.requant.cli.AotTraining</pre>
 *
 * Exits non-zero if a step failed (the launcher then makes no cache; the user's command runs all the same).
 */
public final class AotTraining {
    private AotTraining() {}

    /**
     * quantize's flags and TYPE (IMATRIX: the training imatrix): the k-quant mixes (Q4_K_M and Q3_K_M between them
     * use Q3_K to Q6_K), Q2_K, the ternary and 1-2 bit types, Q4_0, and a k-quant mix with an imatrix. Not the IQ
     * types: their grid tables take most of a second to derive, and their quantizations take long enough that start-up
     * does not show.
     */
    static final List<List<String>> RUNS = List.of(
            List.of("Q4_K_M"), List.of("Q3_K_M"), List.of("Q2_K"), List.of("Q4_0"), List.of("TQ1_0"), List.of("TQ2_0"),
            List.of("Q1_0"), List.of("Q2_0"), List.of("--imatrix", "IMATRIX", "Q4_K_M"));

    public static void main(String[] args) throws IOException {
        Path dir = Files.createTempDirectory("requant-aot-training");
        int failed;
        try {
            failed = train(dir);
        } finally {
            try (Stream<Path> files = Files.walk(dir)) {
                for (Path p : files.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
            }
        }
        System.exit(failed); // the quantize runs leave daemon threads (warm-ups) behind
    }

    /**
     * convert of a tiny QAT checkpoint to Q4_0 (6 layers, hidden 256, learned scales held in BF16, the demo's): the
     * converter's own classes and profiles (config and safetensors JSON, the planner, the tokenizer, the lattice's
     * sampled fit and solver), none of which quantize loads. Without them a 1 B-weight convert spent about a second
     * before its plan's first measurement on a quiet machine, mostly loading and linking these classes.
     */
    static int convertQat(Path dir) throws IOException {
        Path hf = dir.resolve("qat-hf");
        QatWeights.Assignment qat = QatWeights.Assignment.of(QatWeights.ScaleRule.LEARNED, QatWeights.ScaleDtype.BF16);
        SyntheticCheckpoint.gemma3().tokenizer(SentencePieceTrainer.train(DemoCommand.bundledText(), 768))
                .weights(QatWeights.generator(2026, 0.02f, name -> qat, WeightGenerator.hashed(2026)))
                .write(hf);
        int rc = Main.run("convert", hf.toString(), "-o", dir.resolve("out.gguf").toString(), "--type", "q4_0", "--qat", "auto",
                "--threads", "2", "--no-progress");
        if (rc != 0) System.err.println("requant: AOT training: convert --type q4_0 failed (exit " + rc + ")");
        Files.deleteIfExists(dir.resolve("out.gguf"));
        return rc;
    }

    /** Runs the workload in {@code dir} (stdout muted); returns 0, or the exit code of the first run that failed. */
    static int train(Path dir) throws IOException {
        Path model = dir.resolve("tiny.bf16.gguf");
        SyntheticGguf.write(model, SyntheticGguf.Shape.tiny(), 1, 2);
        Path imatrix = dir.resolve("tiny.imatrix.gguf");
        SyntheticImatrix.write(model, imatrix, 10);
        PrintStream out = System.out;
        System.setOut(new PrintStream(OutputStream.nullOutputStream()));
        try {
            Main.run("--help");
            for (List<String> run : RUNS) {
                List<String> argv = new ArrayList<>(List.of("quantize", "--no-progress"));
                for (String a : run.subList(0, run.size() - 1)) argv.add(a.equals("IMATRIX") ? imatrix.toString() : a);
                argv.addAll(List.of(model.toString(), dir.resolve("out.gguf").toString(), run.getLast(), "2"));
                int rc = Main.run(argv.toArray(String[]::new));
                if (rc != 0) {
                    System.err.println("requant: AOT training: quantize " + run + " failed (exit " + rc + ")");
                    return rc;
                }
                Files.deleteIfExists(dir.resolve("out.gguf"));
            }
            return convertQat(dir);
        } finally {
            System.setOut(out);
        }
    }
}
