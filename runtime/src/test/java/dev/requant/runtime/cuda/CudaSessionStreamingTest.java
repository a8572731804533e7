package dev.requant.runtime.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.converter.ConversionSettings;
import dev.requant.converter.GemmaPlanner;
import dev.requant.converter.GgufConversion;
import dev.requant.converter.ModelSources;
import dev.requant.cuda.CudaUnavailableException;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.gguf.FileType;
import dev.requant.formats.imatrix.Imatrix;
import dev.requant.formats.imatrix.ImatrixAccumulator;
import dev.requant.formats.imatrix.ImatrixEntry;
import dev.requant.formats.model.GemmaConfig;
import dev.requant.formats.model.ModelSource;
import dev.requant.formats.tokenizer.Tokenizer;
import dev.requant.runtime.ForwardBatch;
import dev.requant.runtime.GemmInputs;
import dev.requant.runtime.GpuWeights;
import dev.requant.runtime.SessionSpec;
import dev.requant.runtime.imatrix.ChunkPlan;
import dev.requant.runtime.imatrix.ImatrixCollector;
import dev.requant.runtime.imatrix.ImatrixSettings;
import dev.requant.runtime.model.GemmaWeights;
import dev.requant.testmodels.Golden;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Streamed weights (layers uploaded from pinned host memory while the previous layer computes) against resident
 * weights on the same GPU (skipped without a GPU, with the reason): the kernels, their order and the bytes they read
 * are the same, so imatrix sums and logits must be bit for bit equal, for every layer streamed ({@code STREAM}) and
 * for a model split into resident leading layers and streamed trailing ones ({@code AUTO} with little memory).
 */
class CudaSessionStreamingTest {
    @TempDir static Path dir;

    /** How a session places the weights: resident, every layer streamed, or AUTO with room for about half the layers. */
    private enum Placement {
        RESIDENT(GpuWeights.RESIDENT), STREAM(GpuWeights.STREAM), PART(GpuWeights.AUTO);

        final GpuWeights mode;

        Placement(GpuWeights mode) { this.mode = mode; }

        GpuWeights mode() { return mode; }
    }

    /**
     * Opens a session; for PART with a weight budget of the streamed placement's GPU bytes (non-layer tensors and two
     * buffers) plus the first layer's bytes: layer 0 resident, the others streamed.
     */
    private static CudaSession open(GemmaConfig c, GemmaWeights w, SessionSpec spec, Placement p, WeightPlacement streamed)
            throws CudaUnavailableException {
        List<String> log = new ArrayList<>();
        long budget = p == Placement.PART ? streamed.deviceBytes() + streamed.layerBytes()[0] : Long.MAX_VALUE;
        CudaSession s = CudaSession.open(CudaSessionImatrixTest.gpu(), c, w, spec.withGpuWeights(p.mode()), log::add, budget);
        System.out.println("REPORT streaming       " + p.mode() + ": " + s.description());
        return s;
    }

    /** Imatrix of the same tokens resident, streamed and partly streamed: every sum and count equal. */
    private static void imatrixEqual(ModelSource src, int[] tokens, int bos, ImatrixSettings s, String what) throws Exception {
        GemmaConfig c = GemmaConfig.of(src);
        GemmaWeights w = GemmaWeights.load(src, c);
        SessionSpec spec = SessionSpec.imatrix(s.nCtx(), s.nSeq(), null, false, GemmInputs.SPLIT_BF16);
        Imatrix resident = null;
        WeightPlacement streamed = null;
        for (Placement p : List.of(Placement.RESIDENT, Placement.STREAM, Placement.PART)) {
            SessionSpec sp = new SessionSpec(spec.sequenceLength(), spec.maxSequences(), 0, new ImatrixAccumulator(s.nCtx()),
                    false, GemmInputs.SPLIT_BF16);
            try (CudaSession b = open(c, w, sp, p, streamed)) {
                if (p == Placement.RESIDENT) {
                    assertThat(b.streamedLayers()).isZero();
                } else if (p == Placement.STREAM) {
                    assertThat(b.streamedLayers()).isEqualTo(c.nLayer());
                    streamed = b.placement();
                } else {
                    assertThat(b.streamedLayers()).as(what + ": some layers resident, some streamed").isEqualTo(c.nLayer() - 1);
                }
                Imatrix im = ImatrixCollector.run(tokens, bos, ChunkPlan.of(tokens.length, s), b, 0, "t", (x, at) -> {}, null).imatrix();
                if (resident == null) {
                    resident = im;
                    continue;
                }
                assertThat(im.entries().keySet()).containsExactlyElementsOf(resident.entries().keySet());
                for (ImatrixEntry r : resident.entries().values()) {
                    ImatrixEntry e = im.entry(r.name()).orElseThrow();
                    assertThat(e.counts()).as(what + " " + p.mode() + " " + r.name()).containsExactly(r.counts());
                    assertThat(e.sums()).as(what + " " + p.mode() + " " + r.name()).containsExactly(r.sums());
                }
                System.out.println("REPORT streaming       " + what + ": imatrix " + p.mode() + " equals resident ("
                        + resident.entries().size() + " entries)");
            }
        }
    }

    /** Logits of the same chunks resident, streamed and partly streamed: bit for bit equal. */
    private static void logitsEqual(ModelSource src, int[] tokens, int nCtx, String what) throws Exception {
        GemmaConfig c = GemmaConfig.of(src);
        GemmaWeights w = GemmaWeights.load(src, c);
        SessionSpec spec = SessionSpec.eval(nCtx, 2, nCtx - 1, GemmInputs.SPLIT_BF16);
        float[][] resident = null;
        WeightPlacement streamed = null;
        for (Placement p : List.of(Placement.RESIDENT, Placement.STREAM, Placement.PART)) {
            try (CudaSession s = open(c, w, spec, p, streamed)) {
                if (p == Placement.STREAM) streamed = s.placement();
                if (p == Placement.PART) assertThat(s.streamedLayers()).as(what + ": some layers streamed").isEqualTo(c.nLayer() - 1);
                // three batches, so that a batch starts while the previous one's layers used the buffers
                float[][] l = new float[6 * (nCtx - 1)][];
                for (int b = 0; b < 3; b++) {
                    int[] batch = java.util.Arrays.copyOfRange(tokens, 2 * b * nCtx, 2 * (b + 1) * nCtx);
                    int base = 2 * b;
                    s.run(ForwardBatch.logits(batch, 2, 1, nCtx, (seq, pos, row, off) ->
                            l[(base + seq) * (nCtx - 1) + pos - 1] = java.util.Arrays.copyOfRange(row, off, off + c.nVocab())));
                }
                if (resident == null) {
                    resident = l;
                    continue;
                }
                for (int r = 0; r < l.length; r++) {
                    assertThat(l[r]).as(what + " " + p.mode() + " row " + r).containsExactly(resident[r]);
                }
                System.out.println("REPORT streaming       " + what + ": logits " + p.mode() + " equal resident (" + l.length + " rows)");
            }
        }
    }

    private static Path convert(String golden, FileType t) throws Exception {
        Path out = dir.resolve(golden + "." + t.name().toLowerCase() + ".gguf");
        if (!java.nio.file.Files.exists(out)) GgufConversion.write(GemmaPlanner.plan(Golden.hf(golden), ConversionSettings.of(t)), out, null);
        return out;
    }

    @Test
    void gemma3ImatrixStreamedEqualsResident() throws Exception {
        CudaSessionImatrixTest.gpu().close();
        ImatrixSettings s = new ImatrixSettings(256, 1024, 512, 8, 0, false, 10, 0);
        // bf16 (no low halves) and q8_0 (every matrix with a low half)
        for (Path m : List.of(Golden.hf("gemma3-tiny"), convert("gemma3-tiny", FileType.Q8_0))) {
            try (ModelSource src = ModelSources.open(m)) {
                int bos = Tokenizer.fromMetadata(src.metadata()).vocab().bos();
                imatrixEqual(src, CudaSessionImatrixTest.tokens(src, 4000), bos, s, m.getFileName().toString());
            }
        }
    }

    @Test
    void gemma4ImatrixStreamedEqualsResident() throws Exception {
        CudaSessionImatrixTest.gpu().close();
        ImatrixSettings s = new ImatrixSettings(128, 512, 512, 8, 0, false, 10, 0);
        try (ModelSource src = ModelSources.open(Golden.hf("gemma4-tiny"))) {
            int bos = Tokenizer.fromMetadata(src.metadata()).vocab().bos();
            imatrixEqual(src, CudaSessionImatrixTest.tokens(src, 4000), bos, s, "gemma4-tiny (PLE, shared KV)");
        }
        // mixture of experts: the streamed layers hold the stacked experts and the router
        try (ModelSource src = CudaSessionMoeTest.moe(GgmlType.BF16).build()) {
            imatrixEqual(src, CudaSessionMoeTest.tokens(8 * 128 + 1, 300, 11), 2, s, "gemma4 MoE 16x top-4");
        }
    }

    @Test
    void evalLogitsStreamedEqualResident() throws Exception {
        CudaSessionImatrixTest.gpu().close();
        int nCtx = 128;
        try (ModelSource src = ModelSources.open(convert("gemma3-tiny", FileType.Q8_0))) {
            logitsEqual(src, CudaSessionImatrixTest.tokens(src, 6 * nCtx), nCtx, "gemma3-tiny q8_0");
        }
        try (ModelSource src = ModelSources.open(Golden.hf("gemma4-tiny"))) {
            logitsEqual(src, CudaSessionImatrixTest.tokens(src, 6 * nCtx), nCtx, "gemma4-tiny bf16");
        }
        try (ModelSource src = CudaSessionMoeTest.moe(GgmlType.Q8_0).build()) {
            logitsEqual(src, CudaSessionMoeTest.tokens(6 * nCtx, 300, 12), nCtx, "gemma4 MoE q8_0");
        }
    }
}
