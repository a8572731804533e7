package dev.requant.runtime.cuda;

import dev.requant.converter.ModelSources;
import dev.requant.cuda.CudaDevice;
import dev.requant.formats.model.ModelSource;
import dev.requant.formats.tokenizer.Tokenizer;
import dev.requant.runtime.ForwardBatch;
import dev.requant.runtime.ForwardSession;
import dev.requant.runtime.GemmInputs;
import dev.requant.runtime.GpuWeights;
import dev.requant.runtime.SessionSpec;
import dev.requant.runtime.eval.LogitsFile;
import dev.requant.runtime.eval.PerplexityAccumulator;
import dev.requant.formats.model.GemmaConfig;
import dev.requant.runtime.model.GemmaWeights;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Speed of the GPU eval pass (bench/eval-gpu.sh): {@code EvalGpuBenchmark MODEL TEXT [c] [b] [batches] [SPLIT_BF16|BF16] [AUTO|RESIDENT|STREAM]}.
 * Runs the model as llama-perplexity's plain perplexity run does (chunks of c, b/c chunks per batch, the second half
 * of each chunk scored, log-softmax and NLL on the GPU), then the same batches as a compared model against its own
 * log-probs (KLD, the other half of an eval). Two warm-up batches, then {@code batches} timed ones (wall time, each
 * ending with the scores on the host). Tokens/s counts every token of every chunk, as llama-perplexity reports it.
 */
public final class EvalGpuBenchmark {
    public static void main(String[] args) throws Exception {
        Path model = Path.of(args[0]), text = Path.of(args[1]);
        int c = args.length > 2 ? Integer.parseInt(args[2]) : 512;
        int b = args.length > 3 ? Integer.parseInt(args[3]) : 2048;
        int batches = args.length > 4 ? Integer.parseInt(args[4]) : 8;
        GemmInputs inputs = args.length > 5 ? GemmInputs.valueOf(args[5]) : GemmInputs.SPLIT_BF16;
        GpuWeights weights = args.length > 6 ? GpuWeights.valueOf(args[6].toUpperCase(java.util.Locale.ROOT)) : GpuWeights.AUTO;
        int nSeq = Math.max(1, b / c), first = c / 2, scored = LogitsFile.scoredPerChunk(c);
        try (ModelSource src = ModelSources.open(model)) {
            GemmaConfig cfg = GemmaConfig.of(src);
            GemmaWeights w = GemmaWeights.load(src, cfg);
            Tokenizer tok = Tokenizer.fromMetadata(src.metadata());
            int[] tokens = tok.encode(Files.readString(text, StandardCharsets.UTF_8), true, false);
            int need = (batches + 2) * nSeq * c + 1;
            if (tokens.length < need) throw new IllegalArgumentException("the text gives " + tokens.length + " tokens, need " + need);
            long t0 = System.nanoTime();
            try (CudaSession s = CudaSession.open(CudaDevice.open(), cfg, w, SessionSpec.eval(c, nSeq, scored, inputs).withGpuWeights(weights),
                    System.out::println);
                    ForwardSession.ScoreBase base = s.newScoreBase(nSeq * scored)) {
                System.out.printf("open: %.1f s; %s%n", (System.nanoTime() - t0) / 1e9, s.description());
                int[] batch = new int[nSeq * c];
                int[] targets = new int[nSeq * scored];
                PerplexityAccumulator ppl = new PerplexityAccumulator();
                double[][] secs = new double[2][batches];
                for (int mode = 0; mode < 2; mode++) {
                    boolean reference = mode == 0;
                    for (int i = -2; i < batches; i++) {
                        int chunk0 = (i + 2) * nSeq;
                        for (int q = 0; q < nSeq; q++) {
                            System.arraycopy(tokens, (chunk0 + q) * c, batch, q * c, c);
                            batch[q * c] = tok.vocab().bos();
                            for (int r = 0; r < scored; r++) targets[q * scored + r] = tokens[(chunk0 + q) * c + first + r + 1];
                        }
                        ForwardBatch.RowScores rs = new ForwardBatch.RowScores(nSeq * scored);
                        long b0 = System.nanoTime();
                        // the compared pass reads the log-probs of the last reference batch (its own: KLD near 0)
                        s.run(ForwardBatch.scored(batch, nSeq, first, c - 1, new ForwardBatch.Scoring(targets, base, reference, rs)));
                        if (i >= 0) secs[mode][i] = (System.nanoTime() - b0) / 1e9;
                        if (reference && i >= 0) for (double v : rs.nllExact()) ppl.add(v);
                    }
                }
                int T = nSeq * c;
                double[] med = new double[2];
                for (int m = 0; m < 2; m++) {
                    double[] sorted = secs[m].clone();
                    Arrays.sort(sorted);
                    med[m] = sorted[batches / 2];
                }
                double flops = ImatrixGpuBenchmark.gemmFlopsPerToken(cfg, w); // layer weight GEMMs per token
                double head = 2.0 * cfg.nEmbd() * cfg.nVocab() * scored / c; // LM head per token (scored rows only)
                System.out.println();
                System.out.printf("model: %s, %d layers, hidden %d, vocab %d; %.2f GFLOP per token in layer GEMMs, %.2f in the LM head%n",
                        cfg.arch().ggufName(), cfg.nLayer(), cfg.nEmbd(), cfg.nVocab(), flops / 1e9, head / 1e9);
                System.out.printf("PPL over the timed batches: %.4f%n", ppl.report().value());
                System.out.println("| pass | GEMM inputs | -c | -b | tokens/batch | batches | median s/batch | tokens/s | peak GPU memory |");
                System.out.println("|---|---|---|---|---|---|---|---|---|");
                for (int m = 0; m < 2; m++) {
                    System.out.printf("| %s | %s | %d | %d | %d | %d | %.4f | %.0f | %.2f GiB |%n", m == 0 ? "perplexity (reference)" : "KLD (compared)",
                            inputs, c, b, T, batches, med[m], T / med[m], s.peakDeviceBytes() / (double) (1L << 30));
                }
                StreamSummary.print("eval (perplexity pass)", s, T, med[0], new double[] {ppl.report().value()});
            }
        }
    }
}
