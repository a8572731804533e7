package dev.requant.runtime.cuda;

import dev.requant.converter.ModelSources;
import dev.requant.cuda.CudaDevice;
import dev.requant.formats.imatrix.Imatrix;
import dev.requant.formats.imatrix.ImatrixAccumulator;
import dev.requant.formats.model.GemmaConfig;
import dev.requant.formats.model.LayerConfig;
import dev.requant.formats.model.ModelSource;
import dev.requant.formats.tokenizer.Tokenizer;
import dev.requant.runtime.ForwardBatch;
import dev.requant.runtime.GemmInputs;
import dev.requant.runtime.GpuWeights;
import dev.requant.runtime.SessionSpec;
import dev.requant.runtime.imatrix.ChunkPlan;
import dev.requant.runtime.imatrix.ImatrixSettings;
import dev.requant.runtime.model.GemmaWeights;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;

/**
 * Speed of the GPU imatrix pass (bench/imatrix-gpu.sh):
 * {@code ImatrixGpuBenchmark MODEL TEXT [c] [b] [batches] [SPLIT_BF16|BF16] [AUTO|RESIDENT|STREAM]}.
 * Runs two warm-up batches, one profiled batch (device time per phase from CUDA events), then {@code batches} timed
 * batches (wall time; each ends with a stream synchronize). Model FLOPs per token are the weight GEMMs (2 x params of
 * every collected matrix) plus causal attention (Q·Kᵀ and P·V over the visible keys); no LM head is run or counted.
 */
public final class ImatrixGpuBenchmark {
    /** The measured bf16 GEMM peak of an H100 here (PyTorch 8192³: 798 TFLOP/s; our cuBLAS call: 774). */
    static final double PEAK_TFLOPS = 800;
    /** llama-imatrix on this H100: 3.2-3.5 s per 2048-token pass. */
    static final double LLAMA_IMATRIX_TOK_S = 600;

    public static void main(String[] args) throws Exception {
        Path model = Path.of(args[0]), text = Path.of(args[1]);
        int c = args.length > 2 ? Integer.parseInt(args[2]) : 512;
        int b = args.length > 3 ? Integer.parseInt(args[3]) : 2048;
        int batches = args.length > 4 ? Integer.parseInt(args[4]) : 10;
        GemmInputs inputs = args.length > 5 ? GemmInputs.valueOf(args[5]) : GemmInputs.SPLIT_BF16;
        GpuWeights weights = args.length > 6 ? GpuWeights.valueOf(args[6].toUpperCase(java.util.Locale.ROOT)) : GpuWeights.AUTO;
        ImatrixSettings s = new ImatrixSettings(c, b, 512, -1, 0, false, 10, 0);
        try (ModelSource src = ModelSources.open(model)) {
            GemmaConfig cfg = GemmaConfig.of(src);
            GemmaWeights w = GemmaWeights.load(src, cfg);
            Tokenizer tok = Tokenizer.fromMetadata(src.metadata());
            int[] tokens = tok.encode(Files.readString(text, StandardCharsets.UTF_8), true, false);
            ChunkPlan plan = ChunkPlan.of(tokens.length, s);
            int nSeq = plan.nSeq();
            int need = (batches + 3) * nSeq;
            if (plan.chunks() < need) throw new IllegalArgumentException("the text gives " + plan.chunks() + " chunks, need " + need);
            long t0 = System.nanoTime();
            try (CudaSession be = CudaSession.open(CudaDevice.open(), cfg, w,
                    SessionSpec.imatrix(c, nSeq, new ImatrixAccumulator(c), false, inputs).withGpuWeights(weights), System.out::println)) {
                String eg = System.getProperty("requant.expertGemms"); // A/B of the MoE GEMM paths
                if (eg != null) be.expertGemms(CudaSession.ExpertGemms.valueOf(eg));
                System.out.printf("open: %.1f s; %s; weights %.2f GiB, workspace %.2f GiB%n", (System.nanoTime() - t0) / 1e9,
                        be.description(), be.deviceBytes()[0] / (double) (1L << 30), be.deviceBytes()[1] / (double) (1L << 30));
                int[] batch = new int[nSeq * c];
                int[] rows = plan.collectedRows(nSeq);
                int chunk = 0;
                for (int i = 0; i < 2; i++, chunk += nSeq) {
                    plan.batchTokens(tokens, chunk, nSeq, tok.vocab().bos(), batch);
                    be.run(ForwardBatch.collect(batch, nSeq, rows));
                }
                be.profile(true);
                plan.batchTokens(tokens, chunk, nSeq, tok.vocab().bos(), batch);
                be.run(ForwardBatch.collect(batch, nSeq, rows));
                chunk += nSeq;
                Map<String, Double> phases = be.profileMillis();
                be.profile(false);
                double[] secs = new double[batches];
                for (int i = 0; i < batches; i++, chunk += nSeq) {
                    plan.batchTokens(tokens, chunk, nSeq, tok.vocab().bos(), batch);
                    long b0 = System.nanoTime();
                    be.run(ForwardBatch.collect(batch, nSeq, rows));
                    secs[i] = (System.nanoTime() - b0) / 1e9;
                }
                Imatrix im = be.collected("bench");
                double total = Arrays.stream(secs).sum();
                double[] sorted = secs.clone();
                Arrays.sort(sorted);
                double median = sorted[batches / 2];
                int T = nSeq * c;
                double flopsPerToken = flopsPerToken(cfg, w, c);
                double tokS = T / median;
                double tflops = tokS * flopsPerToken / 1e12;
                double gemmFlops = gemmFlopsPerToken(cfg, w) * T;
                System.out.println();
                System.out.printf("model: %s, %d layers, hidden %d, FFN %d, %d/%d heads of %d; %.2f GFLOP per token (weights %.2f, attention %.3f)%n",
                        cfg.arch().ggufName(), cfg.nLayer(), cfg.nEmbd(), cfg.layer(0).nFf(), cfg.layer(0).nHead(),
                        cfg.layer(0).nHeadKv(), cfg.layer(0).headDim(), flopsPerToken / 1e9, gemmFlopsPerToken(cfg, w) / 1e9,
                        (flopsPerToken - gemmFlopsPerToken(cfg, w)) / 1e9);
                System.out.printf("entries %d, chunk_count %d, blk.0.ffn_down counts %s%n", im.entries().size(), im.chunkCount(),
                        Arrays.toString(im.entry("blk.0.ffn_down.weight").orElseThrow().counts()));
                System.out.println("profiled batch (device ms per phase):");
                double prof = 0;
                for (double v : phases.values()) prof += v;
                for (var e : phases.entrySet()) {
                    String extra = e.getKey().equals("gemm") ? String.format("  (%.0f TFLOP/s of model GEMMs)", gemmFlops / (e.getValue() / 1e3) / 1e12) : "";
                    System.out.printf("  %-10s %8.2f ms  %5.1f%%%s%n", e.getKey(), e.getValue(), 100 * e.getValue() / prof, extra);
                }
                System.out.printf("  %-10s %8.2f ms%n", "total", prof);
                System.out.println();
                System.out.println("| GEMM inputs | -c | -b | tokens/batch | batches | median s/batch | tokens/s | model TFLOP/s | MFU (of 800) | vs llama-imatrix (600 tok/s) |");
                System.out.println("|---|---|---|---|---|---|---|---|---|---|");
                System.out.printf("| %s | %d | %d | %d | %d | %.4f | %.0f | %.0f | %.1f%% | %.0fx |%n", inputs, c, b, T, batches, median,
                        tokS, tflops, 100 * tflops / PEAK_TFLOPS, tokS / LLAMA_IMATRIX_TOK_S);
                System.out.printf("(mean over the %d batches: %.0f tokens/s; peak GPU memory %.2f GiB)%n", batches, batches * T / total,
                        be.peakDeviceBytes() / (double) (1L << 30));
                if (be.batchedMoeLayers + be.perExpertMoeLayers > 0) {
                    System.out.printf("MoE layers: %d with batched expert GEMMs, %d one GEMM per expert%n", be.batchedMoeLayers, be.perExpertMoeLayers);
                }
                StreamSummary.print("imatrix", be, T, median, im.entry("blk.0.ffn_down.weight").orElseThrow().sums());
            }
        }
    }

    /** 2 x the parameters of every weight GEMM the pass runs, per token (PLE projections included). */
    static double gemmFlopsPerToken(GemmaConfig c, GemmaWeights w) {
        double p = 0;
        for (var lw : w.layers()) {
            p += (double) lw.attnQ().cols() * CudaGemmaWeights.qkvRows(lw);
            p += (double) lw.attnOutput().cols() * lw.attnOutput().rows();
            p += (double) lw.ffnGate().cols() * (lw.ffnGate().rows() + lw.ffnUp().rows());
            p += (double) lw.ffnDown().cols() * lw.ffnDown().rows();
            if (lw.inpGate() != null) p += (double) lw.inpGate().cols() * lw.inpGate().rows() + (double) lw.proj().cols() * lw.proj().rows();
        }
        if (w.perLayerModelProj() != null) p += (double) w.perLayerModelProj().cols() * w.perLayerModelProj().rows();
        return 2 * p;
    }

    /** Weight GEMMs plus causal attention: 4 · heads · head_dim · (mean visible keys) per token and layer. */
    static double flopsPerToken(GemmaConfig c, GemmaWeights w, int nCtx) {
        double att = 0;
        for (LayerConfig l : c.layers()) {
            double keys = 0;
            for (int p = 0; p < nCtx; p++) keys += l.slidingWindow() && c.slidingWindow() > 0 ? Math.min(p + 1, c.slidingWindow()) : p + 1;
            att += 4.0 * l.nHead() * l.headDim() * keys / nCtx;
        }
        return gemmFlopsPerToken(c, w) + att;
    }
}
