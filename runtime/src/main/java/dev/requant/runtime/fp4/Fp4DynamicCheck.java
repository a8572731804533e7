package dev.requant.runtime.fp4;

import dev.requant.formats.FormatException;
import dev.requant.formats.model.GemmaConfig;
import dev.requant.formats.model.ModelSource;
import dev.requant.runtime.ForwardBatch;
import dev.requant.runtime.ForwardSession;
import dev.requant.runtime.GemmInputs;
import dev.requant.runtime.SessionSpec;
import dev.requant.runtime.cpu.CpuModel;
import dev.requant.runtime.eval.KldAccumulator;
import dev.requant.runtime.eval.KldReport;
import dev.requant.runtime.cpu.CpuSession;
import dev.requant.runtime.cpu.CpuThreads;
import dev.requant.runtime.model.GemmaWeights;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The dynamic half of {@code verify-fp4}: the NVFP4 model run on text in several ways, its logits compared with a
 * reference's at every position of every chunk (each chunk from an empty cache, BOS first):
 * <ul>
 *   <li>W4A16: the dequantized NVFP4 weights with float activations (what llama.cpp and Marlin compute);</li>
 *   <li>W4A4: every product with an NVFP4 weight takes NVFP4-quantized activations ({@link W4a4MatMul}), on each
 *       {@link Fp4Gemm} given: the CPU emulation, the CUDA emulation, cuBLASLt's native FP4 GEMM; an engine that
 *       cannot run here comes with the reason and is reported as not run.</li>
 * </ul>
 * The W4A16 pass and the reference run on the CPU, or, given a {@link SessionOpener}, through a {@link ForwardSession}
 * (the GPU forward session of eval and imatrix: every position's logits of a chunk in one batch). That same session
 * then also runs the whole model in W4A4 ({@link ForwardSession#useW4a4}: the activations quantized as W4a4MatMul
 * quantizes them, fed to its bf16 GEMMs), at the session's speed; the engines above stay the exact per-product checks.
 * The reference is the BF16 model when one is given, else W4A16 (then W4A4 is measured against W4A16). Per path: mean
 * KL-divergence (nats per position, reference first), same top token, largest |Δlogit|, non-finite logits. The GPU
 * emulation must reproduce the CPU emulation's logits exactly: same quantization, same float32 operations.
 */
public final class Fp4DynamicCheck {
    /** A W4A4 engine to try, or the reason it cannot run here. */
    public record Engine(String name, Fp4Gemm gemm, String notRunReason) {
        public static Engine of(String name, Fp4Gemm gemm) { return new Engine(name, gemm, null); }

        public static Engine notRun(String name, String reason) { return new Engine(name, null, reason); }
    }

    /**
     * @param maxKldW4a16 mean KLD limit of W4A16 against the BF16 reference (nats)
     * @param maxKldW4a4 mean KLD limit of a W4A4 path against the reference
     * @param maxEmulationDelta largest |Δlogit| allowed between the GPU and the CPU emulation (0: bit-identical)
     */
    public record Thresholds(double maxKldW4a16, double maxKldW4a4, double maxEmulationDelta) {
        public static final Thresholds DEFAULT = new Thresholds(0.10, 0.25, 0.0);
    }

    public record PathResult(String name, boolean ran, String engine, String notRunReason, double meanKld, double sameTop,
            double maxAbsDeltaLogit, long nonFinite, long positions, long staticScaleCalls, long dynamicScaleCalls, boolean isReference) {}

    public record Result(String reference, int chunks, int positions, List<PathResult> paths, Double emulationAgreement, Thresholds thresholds) {
        /** Problems that fail the check, as sentences. */
        public List<String> failures() {
            List<String> f = new ArrayList<>();
            for (PathResult p : paths) {
                if (!p.ran() || p.isReference()) continue;
                if (p.nonFinite() > 0) f.add(p.name() + ": " + p.nonFinite() + " non-finite logits");
                double lim = p.name().startsWith("W4A16") ? thresholds.maxKldW4a16() : thresholds.maxKldW4a4();
                if (!(p.meanKld() <= lim)) f.add(String.format("%s: mean KLD %.4g above %.3g", p.name(), p.meanKld(), lim));
            }
            if (emulationAgreement != null && !(emulationAgreement <= thresholds.maxEmulationDelta())) {
                f.add(String.format("GPU emulation differs from the CPU emulation by up to %.4g in a logit (limit %s)", emulationAgreement, thresholds.maxEmulationDelta()));
            }
            return f;
        }
    }

    /** The name of the W4A4 path that runs inside the GPU forward session (after "W4A4 "). */
    public static final String SESSION_PATH = "GPU forward session (NVFP4 activations into its bf16 GEMMs)";

    /** Opens a session for a whole model's W4A16 (or reference) logits, e.g. on the GPU. */
    public interface SessionOpener {
        ForwardSession open(GemmaConfig c, GemmaWeights w, SessionSpec spec) throws Exception;
    }

    /** Called after each chunk of each path. */
    public interface Progress {
        void chunk(String path, int chunk, int chunks);
    }

    private Fp4DynamicCheck() {}

    public static Result run(ModelSource model, ModelSource reference, int[] tokens, int nCtx, int maxChunks, int bos, List<Engine> engines,
            CpuThreads threads, Thresholds th, Progress progress) throws FormatException {
        try {
            return run(model, reference, tokens, nCtx, maxChunks, bos, engines, threads, th, progress, null);
        } catch (FormatException | RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * As above, with the W4A16 pass, the reference and a whole-model W4A4 pass through sessions of {@code sessions}
     * (null: the CPU pass); the engines' W4A4 paths run on the CPU pass with their {@link Fp4Gemm}.
     */
    public static Result run(ModelSource model, ModelSource reference, int[] tokens, int nCtx, int maxChunks, int bos, List<Engine> engines,
            CpuThreads threads, Thresholds th, Progress progress, SessionOpener sessions) throws Exception {
        GemmaConfig mc = GemmaConfig.of(model);
        GemmaWeights mw = GemmaWeights.load(model, mc);
        CpuModel m = new CpuModel(mc, mw, threads, false, true);
        GemmaConfig rc = null;
        GemmaWeights rw = null;
        if (reference != null) {
            rc = GemmaConfig.of(reference);
            if (rc.nVocab() != mc.nVocab()) throw new FormatException(reference.path(), "has " + rc.nVocab() + " tokens, the model " + mc.nVocab());
            rw = GemmaWeights.load(reference, rc);
        }
        if (sessions == null) return run(model, m, rc == null ? null : new CpuModel(rc, rw, threads, false, true), null, null,
                reference, tokens, nCtx, maxChunks, bos, engines, th, progress, null);
        SessionSpec spec = SessionSpec.eval(nCtx, 1, nCtx, GemmInputs.SPLIT_BF16);
        try (ForwardSession q = sessions.open(mc, mw, spec); ForwardSession r = rc == null ? null : sessions.open(rc, rw, spec)) {
            Map<String, Float> scales = W4a4MatMul.inputScales(model);
            boolean w4a4 = q.useW4a4(scales);
            q.useW4a4(null);
            return run(model, m, null, q, r, reference, tokens, nCtx, maxChunks, bos, engines, th, progress, w4a4 ? scales : null);
        }
    }

    /** @param sessionW4a4 the input scales when {@code mSession} runs W4A4 itself (null: it cannot, or there is none) */
    private static Result run(ModelSource model, CpuModel m, CpuModel ref, ForwardSession mSession, ForwardSession refSession, ModelSource reference,
            int[] tokens, int nCtx, int maxChunks, int bos, List<Engine> engines, Thresholds th, Progress progress,
            Map<String, Float> sessionW4a4) {
        GemmaConfig mc = m.config();
        boolean hasRef = ref != null || refSession != null;
        int nv = mc.nVocab();
        int chunks = Math.min(maxChunks <= 0 ? Integer.MAX_VALUE : maxChunks, tokens.length / nCtx);
        if (chunks < 1) throw new IllegalArgumentException(tokens.length + " tokens make no chunk of " + nCtx);
        List<Acc> accs = new ArrayList<>();
        Acc w4a16 = new Acc("W4A16 (dequantized weights, float activations)", mSession == null ? "CPU" : mSession.description(), !hasRef);
        accs.add(w4a16);
        Acc inSession = null;
        if (mSession != null) {
            inSession = new Acc("W4A4 " + SESSION_PATH, sessionW4a4 == null ? null : mSession.description(), false);
            if (sessionW4a4 == null) inSession.notRun = mSession.description() + " cannot quantize every NVFP4 product of this model "
                    + "(an NVFP4 per-layer projection or router, or no FP4 kernels)";
            accs.add(inSession);
        }
        List<Acc> w4a4 = new ArrayList<>();
        for (Engine e : engines) {
            Acc a = e.gemm() == null ? new Acc("W4A4 " + e.name(), null, false) : new Acc("W4A4 " + e.name(), e.gemm().description(), false);
            a.notRun = e.notRunReason();
            w4a4.add(a);
            accs.add(a);
        }
        List<W4a4MatMul> overrides = new ArrayList<>();
        for (Engine e : engines) overrides.add(e.gemm() == null ? null : new W4a4MatMul(model, e.gemm()));
        double agreement = Double.NaN;
        boolean compareEmulations = engines.size() >= 2 && engines.get(0).gemm() != null && engines.get(1).gemm() != null;
        int[] chunk = new int[nCtx];
        for (int c = 0; c < chunks; c++) {
            System.arraycopy(tokens, c * nCtx, chunk, 0, nCtx);
            if (bos >= 0) chunk[0] = bos;
            float[] refLogits = ref != null ? run(ref, chunk, null) : refSession != null ? run(refSession, chunk, nv) : null;
            float[] q = mSession != null ? run(mSession, chunk, nv) : run(m, chunk, null);
            progress.chunk(w4a16.name, c, chunks);
            if (refLogits == null) refLogits = q;
            else w4a16.add(refLogits, q, chunk, nCtx, nv);
            if (inSession != null && sessionW4a4 != null) {
                mSession.useW4a4(sessionW4a4);
                float[] l;
                try {
                    l = run(mSession, chunk, nv);
                } finally {
                    long[] calls = mSession.w4a4Calls();
                    inSession.staticCalls += calls[0];
                    inSession.dynamicCalls += calls[1];
                    mSession.useW4a4(null);
                }
                progress.chunk(inSession.name, c, chunks);
                inSession.add(refLogits, l, chunk, nCtx, nv);
            }
            float[] first = null;
            for (int i = 0; i < engines.size(); i++) {
                if (overrides.get(i) == null) continue;
                float[] l = run(m, chunk, overrides.get(i));
                progress.chunk(w4a4.get(i).name, c, chunks);
                w4a4.get(i).add(refLogits, l, chunk, nCtx, nv);
                if (i == 0) first = l;
                else if (i == 1 && compareEmulations) {
                    double d = 0;
                    for (int k = 0; k < l.length; k++) d = Math.max(d, Math.abs((double) l[k] - first[k]));
                    agreement = Double.isNaN(agreement) ? d : Math.max(agreement, d);
                }
            }
        }
        for (int i = 0; i < engines.size(); i++) {
            if (overrides.get(i) != null) {
                w4a4.get(i).staticCalls = overrides.get(i).staticCalls();
                w4a4.get(i).dynamicCalls = overrides.get(i).dynamicCalls();
            }
        }
        List<PathResult> out = new ArrayList<>();
        for (Acc a : accs) out.add(a.result());
        return new Result(reference == null ? "W4A16 (no --reference)" : reference.path().toString(), chunks, chunks * nCtx, out,
                compareEmulations ? agreement : null, th);
    }

    /** Every position's logits of one chunk through a session: one sequence, positions 0..n-1. */
    private static float[] run(ForwardSession s, int[] tokens, int nv) {
        int n = tokens.length;
        float[] out = new float[n * nv];
        s.run(ForwardBatch.logits(tokens, 1, 0, n, (seq, pos, row, off) -> System.arraycopy(row, off, out, pos * nv, nv)));
        return out;
    }

    private static float[] run(CpuModel model, int[] tokens, W4a4MatMul override) {
        CpuSession s = model.newSession(tokens.length);
        s.setMatMulOverride(override);
        return s.logits(tokens);
    }

    /** Running statistics of one path against the reference. */
    private static final class Acc {
        final String name, engine;
        final boolean isReference;
        String notRun;
        final KldAccumulator stats = new KldAccumulator();
        long positions, nonFinite, staticCalls, dynamicCalls;
        double maxDelta;

        Acc(String name, String engine, boolean isReference) {
            this.name = name;
            this.engine = engine;
            this.isReference = isReference;
        }

        /** One chunk: the statistics come from eval's {@link KldAccumulator}, the non-finite and max-delta counts here. */
        void add(float[] ref, float[] q, int[] chunk, int n, int nv) {
            for (int t = 0; t < n; t++) {
                int o = t * nv;
                boolean finite = true;
                for (int i = 0; i < nv; i++) {
                    if (!Float.isFinite(q[o + i])) {
                        nonFinite++;
                        finite = false;
                    } else {
                        maxDelta = Math.max(maxDelta, Math.abs((double) q[o + i] - ref[o + i]));
                    }
                }
                positions++;
                // the last position predicts a token outside the chunk: its own argmax stands in (only the perplexities use it)
                if (finite) stats.addLogits(ref, o, q, o, nv, t + 1 < n ? chunk[t + 1] : 0);
            }
        }

        PathResult result() {
            boolean ran = notRun == null && engine != null;
            KldReport r = stats.count() > 0 ? stats.report() : null;
            return new PathResult(name, ran, engine, notRun, r != null ? r.kld().value() : Double.NaN,
                    r != null ? (double) Math.round(r.sameTop().value() * stats.count()) / positions : Double.NaN, maxDelta, nonFinite, positions, staticCalls, dynamicCalls, isReference);
        }
    }
}
