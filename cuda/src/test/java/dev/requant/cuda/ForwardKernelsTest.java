package dev.requant.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.formats.ggml.BFloat16;
import dev.requant.formats.ggml.Float16;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The kernels of the batched forward pass (runtime/cuda CudaSession) against double references: fused norms,
 * Q/K/V preparation, the cuBLAS attention (Q·Kᵀ, causal softmax, P·V) with the head-major layouts, the bf16 GEGLU,
 * the per-layer-input combination and the two-pass imatrix sums.
 */
class ForwardKernelsTest {
    static float[] bf16Floats(short[] b) {
        float[] f = new float[b.length];
        for (int i = 0; i < b.length; i++) f[i] = BFloat16.toFloat(b[i]);
        return f;
    }

    static float[] f16Floats(short[] b) {
        float[] f = new float[b.length];
        for (int i = 0; i < b.length; i++) f[i] = Float16.toFloat(b[i]);
        return f;
    }

    /** hi is bf16(v) exactly, lo is bf16(v - hi) exactly, and hi + lo carries v to 2^-16. */
    static void checkSplit(float[] v, short[] hi, short[] lo) {
        double num = 0, den = 0;
        for (int i = 0; i < v.length; i++) {
            assertThat(hi[i]).isEqualTo(BFloat16.fromFloat(v[i]));
            if (lo != null) {
                assertThat(lo[i]).isEqualTo(BFloat16.fromFloat(v[i] - BFloat16.toFloat(hi[i])));
                double d = (double) BFloat16.toFloat(hi[i]) + BFloat16.toFloat(lo[i]) - v[i];
                num += d * d;
                den += (double) v[i] * v[i];
            }
        }
        if (lo != null) assertThat(Math.sqrt(num / den)).isLessThan(Math.pow(2, -16));
    }

    @Test
    void rmsNormFusedWritesF32Bf16AndResidual() {
        CudaDevice d = CudaTestSupport.device();
        CudaKernels k = CudaTestSupport.kernels();
        Random r = new Random(11);
        int rows = 7, n = 2560;
        float[] x = CudaTestSupport.gaussian(r, rows * n, 3), w = CudaTestSupport.gaussian(r, n, 1), h = CudaTestSupport.gaussian(r, rows * n, 1);
        double[] ref = RmsNormKernelTest.reference(x, w, rows, n, 1e-6f);
        DeviceBuffer dx = d.allocate(4L * x.length), dw = d.allocate(4L * n), dy = d.allocate(4L * x.length),
                db = d.allocate(2L * x.length), dl = d.allocate(2L * x.length);
        try {
            d.copyToDevice(x, dx);
            d.copyToDevice(w, dw);
            d.fill32(dy, Float.floatToRawIntBits(Float.NaN));
            k.rmsNormFused(d.defaultStream(), dx, n, dw, dy, n, db, dl, n, rows, n, 1e-6f, false);
            float[] y = d.floats(dy, x.length);
            double e = CudaTestSupport.relativeError(y, ref);
            assertThat(e).isLessThan(1e-6);
            checkSplit(y, d.shorts(db, x.length), d.shorts(dl, x.length));
            d.copyToDevice(h, dy);
            k.rmsNormFused(d.defaultStream(), dx, n, dw, dy, n, null, null, 0, rows, n, 1e-6f, true);
            double[] sum = new double[ref.length];
            for (int i = 0; i < sum.length; i++) sum[i] = h[i] + ref[i];
            double e2 = CudaTestSupport.relativeError(d.floats(dy, x.length), sum);
            assertThat(e2).isLessThan(1e-6);
            CudaTestSupport.report("rms_norm_fused", "rel. error set / residual add; bf16 copy exact", CudaTestSupport.sci(Math.max(e, e2)));
        } finally {
            for (DeviceBuffer b : new DeviceBuffer[] {dx, dw, dy, db, dl}) d.free(b);
        }
    }

    @Test
    void imatrixRowsSumsSquaresOfStridedRows() {
        CudaDevice d = CudaTestSupport.device();
        CudaKernels k = CudaTestSupport.kernels();
        Random r = new Random(12);
        double worst = 0;
        for (int[] sh : new int[][] {{200, 300, 310}, {2048, 2560, 2560}, {1, 5, 5}, {65, 10240, 10240}}) {
            int rows = sh[0], cols = sh[1], stride = sh[2];
            float[] x = CudaTestSupport.gaussian(r, rows * stride, 2), s0 = CudaTestSupport.gaussian(r, cols, 1);
            for (int j = 0; j < cols; j++) s0[j] = Math.abs(s0[j]) * 100;
            double[] ref = new double[cols];
            for (int j = 0; j < cols; j++) {
                ref[j] = s0[j];
                for (int i = 0; i < rows; i++) ref[j] += (double) x[i * stride + j] * x[i * stride + j];
            }
            DeviceBuffer dx = d.allocate(4L * x.length), ds = d.allocate(4L * cols), bad = d.allocate(4),
                    scratch = d.allocate(4 * CudaKernels.imatrixScratchFloats(rows, cols));
            try {
                d.copyToDevice(x, dx);
                d.copyToDevice(s0, ds);
                d.fill32(bad, Integer.MAX_VALUE);
                k.imatrixRows(d.defaultStream(), dx, stride, rows, cols, scratch, ds, bad);
                double e = CudaTestSupport.relativeError(d.floats(ds, cols), ref);
                assertThat(e).as("%d x %d", rows, cols).isLessThan(1e-6);
                assertThat(d.ints(bad, 1)[0]).isEqualTo(Integer.MAX_VALUE);
                worst = Math.max(worst, e);
            } finally {
                for (DeviceBuffer b : new DeviceBuffer[] {dx, ds, bad, scratch}) d.free(b);
            }
        }
        CudaTestSupport.report("imatrix_partial", "rel. error of sums, 4 shapes up to 2048 x 2560", CudaTestSupport.sci(worst));
    }

    @Test
    void gegluWithStridesAndBf16Copy() {
        CudaDevice d = CudaTestSupport.device();
        CudaKernels k = CudaTestSupport.kernels();
        Random r = new Random(13);
        int rows = 9, ff = 1000;
        float[] gu = CudaTestSupport.gaussian(r, rows * 2 * ff, 2);
        double[] ref = new double[rows * ff];
        for (int t = 0; t < rows; t++) {
            for (int j = 0; j < ff; j++) {
                double x = gu[t * 2 * ff + j];
                double g = 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
                ref[t * ff + j] = g * gu[t * 2 * ff + ff + j];
            }
        }
        DeviceBuffer dg = d.allocate(4L * gu.length), out = d.allocate(4L * rows * ff), outb = d.allocate(2L * rows * ff),
                outl = d.allocate(2L * rows * ff), hi = d.allocate(2L * rows * ff);
        try {
            d.copyToDevice(gu, dg);
            k.geglu(d.defaultStream(), dg, 2L * ff, dg.slice(4L * ff, dg.bytes() - 4L * ff), 2L * ff, out, ff, outb, outl, ff, rows, ff);
            float[] y = d.floats(out, rows * ff);
            double e = CudaTestSupport.relativeError(y, ref);
            assertThat(e).isLessThan(1e-6);
            checkSplit(y, d.shorts(outb, rows * ff), d.shorts(outl, rows * ff));
            k.geglu(d.defaultStream(), dg, 2L * ff, dg.slice(4L * ff, dg.bytes() - 4L * ff), 2L * ff, out, ff, outb, null, ff, rows, ff);
            checkSplit(y, d.shorts(outb, rows * ff), null);
            // the standalone split
            k.f32ToBf16Split(d.defaultStream(), out, hi, outl, (long) rows * ff);
            checkSplit(y, d.shorts(hi, rows * ff), d.shorts(outl, rows * ff));
            CudaTestSupport.report("geglu", "rel. error, fused [gate|up] rows; bf16 hi/lo exact", CudaTestSupport.sci(e));
        } finally {
            for (DeviceBuffer b : new DeviceBuffer[] {dg, out, outb, outl, hi}) d.free(b);
        }
    }

    @Test
    void pleCombineNormalizesEachLayersSlice() {
        CudaDevice d = CudaTestSupport.device();
        CudaKernels k = CudaTestSupport.kernels();
        Random r = new Random(14);
        int T = 5, L = 3, pd = 48, pw = L * pd;
        float[] proj = CudaTestSupport.gaussian(r, T * pw, 10), ple = CudaTestSupport.gaussian(r, T * pw, 1), w = CudaTestSupport.gaussian(r, pd, 1);
        float ps = 1f / 16f, is = 1f / (float) Math.sqrt(2);
        double[] ref = new double[T * pw];
        for (int t = 0; t < T; t++) {
            for (int l = 0; l < L; l++) {
                int o = t * pw + l * pd;
                double s = 0;
                for (int i = 0; i < pd; i++) s += (double) (proj[o + i] * ps) * (proj[o + i] * ps);
                double sc = 1 / Math.sqrt(s / pd + 1e-6);
                for (int i = 0; i < pd; i++) ref[o + i] = (proj[o + i] * ps * sc * w[i] + ple[o + i]) * is;
            }
        }
        DeviceBuffer dp = d.allocate(4L * proj.length), dl = d.allocate(4L * ple.length), dw = d.allocate(4L * pd);
        try {
            d.copyToDevice(proj, dp);
            d.copyToDevice(ple, dl);
            d.copyToDevice(w, dw);
            k.pleCombine(d.defaultStream(), dp, dl, pw, T, L, pd, dw, ps, is, 1e-6f);
            double e = CudaTestSupport.relativeError(d.floats(dl, ple.length), ref);
            assertThat(e).isLessThan(1e-6);
            CudaTestSupport.report("ple_combine", "rel. error", CudaTestSupport.sci(e));
        } finally {
            for (DeviceBuffer b : new DeviceBuffer[] {dp, dl, dw}) d.free(b);
        }
    }

    /** Q/K/V preparation in double: norm (with weight for q/k, none or plain for v), NEOX rope, head-major. */
    static double theta(int p, int i, int nRot, double base, double scale, float[] ff) {
        double t = p * Math.pow(base, -2.0 * i / nRot);
        if (ff != null) t /= ff[i];
        return t * scale;
    }

    /** The cos or sin table [pos][nRot/2] the runtime builds on the host (runtime.cpu.Rope). */
    static float[] ropeTable(int positions, int nRot, double base, double scale, float[] ff, boolean cos) {
        float[] t = new float[positions * (nRot / 2)];
        for (int p = 0; p < positions; p++) {
            for (int i = 0; i < nRot / 2; i++) {
                double th = theta(p, i, nRot, base, scale, ff);
                t[p * (nRot / 2) + i] = (float) (cos ? Math.cos(th) : Math.sin(th));
            }
        }
        return t;
    }

    static double[][] qkvReference(float[] qkv, CudaKernels.QkvShape s, float[] qn, float[] kn, float[] ff, double base,
                                   double scale) {
        int T = s.tokens(), hd = s.headDim(), H = s.heads(), G = s.kvHeads(), L = s.seqLen();
        double[] q = new double[T * H * hd], k = new double[T * G * hd], v = new double[T * G * hd];
        for (int t = 0; t < T; t++) {
            int seq = t / L, p = t % L;
            for (int slot = 0; slot < H + 2 * G; slot++) {
                int kind = slot < H ? 0 : slot < H + G ? 1 : 2;
                int h = kind == 0 ? slot : kind == 1 ? slot - H : slot - H - G;
                int off = kind == 0 ? s.qOffset() : kind == 1 ? s.kOffset() : s.vOffset();
                double[] x = new double[hd];
                for (int i = 0; i < hd; i++) x[i] = qkv[(int) (t * s.ld()) + off + h * hd + i];
                if (kind < 2 || s.vNorm()) {
                    double ss = 0;
                    for (double xi : x) ss += xi * xi;
                    double sc = 1 / Math.sqrt(ss / hd + s.eps());
                    float[] w = kind == 0 ? qn : kind == 1 ? kn : null;
                    for (int i = 0; i < hd; i++) x[i] = x[i] * sc * (w == null ? 1 : w[i]);
                }
                if (kind < 2) {
                    int half = s.nRot() / 2;
                    for (int i = 0; i < half; i++) {
                        double theta = theta(p, i, s.nRot(), base, scale, ff);
                        double x0 = x[i], x1 = x[i + half];
                        x[i] = x0 * Math.cos(theta) - x1 * Math.sin(theta);
                        x[i + half] = x0 * Math.sin(theta) + x1 * Math.cos(theta);
                    }
                }
                double[] dst = kind == 0 ? q : kind == 1 ? k : v;
                int heads = kind == 0 ? H : G;
                System.arraycopy(x, 0, dst, ((seq * heads + h) * L + p) * hd, hd);
            }
        }
        return new double[][] {q, k, v};
    }

    private static double attentionCase(CudaKernels.QkvShape s, double base, double freqScale, float scale, int window,
                                        boolean factors, long seed) throws Exception {
        CudaDevice d = CudaTestSupport.device();
        CudaKernels k = CudaTestSupport.kernels();
        Random r = new Random(seed);
        int T = s.tokens(), hd = s.headDim(), H = s.heads(), G = s.kvHeads(), L = s.seqLen(), nSeq = T / L;
        float[] qkv = CudaTestSupport.gaussian(r, (int) (T * s.ld()), 2);
        float[] qn = CudaTestSupport.gaussian(r, hd, 1), kn = CudaTestSupport.gaussian(r, hd, 1);
        float[] ff = null;
        if (factors) {
            ff = new float[hd / 2];
            for (int i = 0; i < ff.length; i++) ff[i] = i < s.nRot() / 4 ? 1f : 1e30f; // Gemma 4 proportional rope
        }
        double[][] ref = qkvReference(qkv, s, qn, kn, ff, base, freqScale);
        float[] cos = ropeTable(L, s.nRot(), base, freqScale, ff, true), sin = ropeTable(L, s.nRot(), base, freqScale, ff, false);
        DeviceBuffer dqkv = d.allocate(4L * qkv.length), dqn = d.allocate(4L * hd), dkn = d.allocate(4L * hd),
                dcos = d.allocate(4L * Math.max(1, cos.length)), dsin = d.allocate(4L * Math.max(1, sin.length)), qh = d.allocate(2L * T * H * hd),
                kh = d.allocate(2L * T * G * hd), vh = d.allocate(2L * T * G * hd),
                scores = d.allocate(4L * nSeq * H * L * L), probs = d.allocate(2L * nSeq * H * L * L),
                o = d.allocate(4L * T * H * hd), y = d.allocate(4L * T * H * hd), yb = d.allocate(2L * T * H * hd),
                yl = d.allocate(2L * T * H * hd);
        try (CudaGemm gemm = new CudaGemm(d, d.defaultStream())) {
            d.copyToDevice(qkv, dqkv);
            d.copyToDevice(qn, dqn);
            d.copyToDevice(kn, dkn);
            d.copyToDevice(cos, dcos);
            d.copyToDevice(sin, dsin);
            k.qkvPrep(d.defaultStream(), s, dqkv, dqn, dkn, dcos, dsin, qh, kh, vh);
            float[] q = f16Floats(d.shorts(qh, T * H * hd)), kk = f16Floats(d.shorts(kh, T * G * hd)), v = f16Floats(d.shorts(vh, T * G * hd));
            double eq = CudaTestSupport.relativeError(q, ref[0]), ek = CudaTestSupport.relativeError(kk, ref[1]),
                    ev = CudaTestSupport.relativeError(v, ref[2]);
            assertThat(Math.max(eq, Math.max(ek, ev))).as("q/k/v %s", s).isLessThan(1e-3);

            // attention exactly as CudaSession runs it: blocks of (sequence, KV head), group queries stacked
            int group = H / G, rows = group * L, blocks = nSeq * G;
            gemm.f16BatchedABt(qh, (long) rows * hd, kh, (long) L * hd, scores, (long) rows * L, rows, L, hd, scale, blocks);
            k.softmaxCausal(d.defaultStream(), scores, probs, rows, L, window, blocks);
            gemm.f16BatchedAB(probs, (long) rows * L, vh, (long) L * hd, o, (long) rows * hd, rows, hd, L, blocks);
            d.fill32(y, Float.floatToRawIntBits(Float.NaN));
            k.attnGather(d.defaultStream(), o, y, yb, yl, T, H, hd, L);
            float[] got = d.floats(y, T * H * hd);

            // reference on the f16 q/k/v the GPU used, token-major
            float[] qt = new float[T * H * hd], kt = new float[T * G * hd], vt = new float[T * G * hd];
            for (int t = 0; t < T; t++) {
                int seq = t / L, p = t % L;
                for (int h = 0; h < H; h++) System.arraycopy(q, ((seq * H + h) * L + p) * hd, qt, (t * H + h) * hd, hd);
                for (int g = 0; g < G; g++) {
                    System.arraycopy(kk, ((seq * G + g) * L + p) * hd, kt, (t * G + g) * hd, hd);
                    System.arraycopy(v, ((seq * G + g) * L + p) * hd, vt, (t * G + g) * hd, hd);
                }
            }
            AttentionShape a = AttentionShape.packed(nSeq, L, H, G, hd, window, scale);
            double ea = CudaTestSupport.relativeError(got, AttentionKernelTest.reference(a, qt, kt, vt));
            assertThat(ea).as("attention %s", s).isLessThan(3e-3);
            checkSplit(got, d.shorts(yb, T * H * hd), d.shorts(yl, T * H * hd));
            return Math.max(ea, Math.max(eq, Math.max(ek, ev)));
        } finally {
            for (DeviceBuffer b : new DeviceBuffer[] {dqkv, dqn, dkn, dcos, dsin, qh, kh, vh, scores, probs, o, y, yb, yl}) d.free(b);
        }
    }

    @Test
    void attentionThroughBatchedGemmsMatchesTheReference() throws Exception {
        // Gemma 3 4B-like (GQA 2, head 256), 2 sequences, with a sliding window shorter than the sequence
        int H = 8, G = 4, hd = 256;
        long ld = (long) (H + 2 * G) * hd;
        double e1 = attentionCase(new CudaKernels.QkvShape(2 * 40, 40, H, G, hd, hd, ld, 0, H * hd, (H + G) * hd, false,
                1e-6f), 10000, 1, 1f / 16f, 16, false, 21);
        // Gemma 4 global-like: k_eq_v (V reads the K columns), V norm, partial rotation with rope_freqs, scale 1
        int H2 = 4, G2 = 2, hd2 = 128;
        long ld2 = (long) (H2 + G2) * hd2;
        double e2 = attentionCase(new CudaKernels.QkvShape(3 * 33, 33, H2, G2, hd2, hd2, ld2, 0, H2 * hd2, H2 * hd2, true,
                1e-6f), 1e6, 1, 1f, 0, true, 22);
        // n_rot < head_dim, linear freq scale, no GQA, one sequence
        double e3 = attentionCase(new CudaKernels.QkvShape(50, 50, 2, 2, 64, 32, 6 * 64, 0, 128, 256, false, 1e-5f),
                1e4, 0.25, 0.125f, 0, false, 23);
        CudaTestSupport.report("qkv_prep+attn", "rel. error q/k/v and attention (3 shapes)", CudaTestSupport.sci(Math.max(e1, Math.max(e2, e3))));
    }
}
