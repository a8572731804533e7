package dev.requant.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Random;
import org.junit.jupiter.api.Test;

class AttentionKernelTest {
    /** Scalar reference in double: masked softmax(q·k·scale, softcapped) · v per (sequence, query, head). */
    static double[] reference(AttentionShape a, float[] q, float[] k, float[] v) {
        int D = a.headDim();
        double[] o = new double[(int) (a.sequences() * a.oSeqStride())];
        for (int s = 0; s < a.sequences(); s++) {
            for (int i = 0; i < a.queries(); i++) {
                int qpos = a.queryPos0() + i;
                for (int h = 0; h < a.heads(); h++) {
                    int kvh = h / (a.heads() / a.kvHeads());
                    long qo = s * a.qSeqStride() + i * a.qTokenStride() + (long) h * D;
                    double[] score = new double[a.keys()];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < a.keys(); j++) {
                        boolean visible = j <= qpos && (a.window() <= 0 || qpos - j < a.window());
                        if (!visible) {
                            score[j] = Double.NEGATIVE_INFINITY;
                            continue;
                        }
                        long ko = s * a.kvSeqStride() + j * a.kvTokenStride() + (long) kvh * D;
                        double dot = 0;
                        for (int d = 0; d < D; d++) dot += (double) q[(int) (qo + d)] * k[(int) (ko + d)];
                        dot *= a.scale();
                        if (a.softcap() > 0) dot = a.softcap() * Math.tanh(dot / a.softcap());
                        score[j] = dot;
                        max = Math.max(max, dot);
                    }
                    double sum = 0;
                    for (int j = 0; j < a.keys(); j++) sum += score[j] == Double.NEGATIVE_INFINITY ? 0 : Math.exp(score[j] - max);
                    long oo = s * a.oSeqStride() + i * a.oTokenStride() + (long) h * D;
                    for (int j = 0; j < a.keys(); j++) {
                        if (score[j] == Double.NEGATIVE_INFINITY) continue;
                        double p = Math.exp(score[j] - max) / sum;
                        long vo = s * a.kvSeqStride() + j * a.kvTokenStride() + (long) kvh * D;
                        for (int d = 0; d < D; d++) o[(int) (oo + d)] += p * v[(int) (vo + d)];
                    }
                }
            }
        }
        return o;
    }

    private static double check(AttentionShape a, long seed) {
        CudaDevice d = CudaTestSupport.device();
        CudaKernels k = CudaTestSupport.kernels();
        Random r = new Random(seed);
        float[] q = CudaTestSupport.gaussian(r, (int) (a.sequences() * a.qSeqStride()), 1);
        float[] kk = CudaTestSupport.gaussian(r, (int) (a.sequences() * a.kvSeqStride()), 1);
        float[] v = CudaTestSupport.gaussian(r, (int) (a.sequences() * a.kvSeqStride()), 1);
        DeviceBuffer dq = d.allocate(4L * q.length), dk = d.allocate(4L * kk.length), dv = d.allocate(4L * v.length),
                dout = d.allocate(4L * a.sequences() * a.oSeqStride());
        try {
            d.copyToDevice(q, dq);
            d.copyToDevice(kk, dk);
            d.copyToDevice(v, dv);
            d.fill32(dout, Float.floatToRawIntBits(Float.NaN));
            k.attention(d.defaultStream(), a, dq, dk, dv, dout);
            float[] o = d.floats(dout, (int) (a.sequences() * a.oSeqStride()));
            double err = CudaTestSupport.relativeError(o, reference(a, q, kk, v));
            assertThat(err).as(a.toString()).isLessThan(2e-4);
            return err;
        } finally {
            for (DeviceBuffer b : new DeviceBuffer[] {dq, dk, dv, dout}) d.free(b);
        }
    }

    @Test
    void causalPrefillWithGqa() {
        double e1 = check(AttentionShape.packed(2, 37, 4, 2, 64, 0, 0.125f), 1);
        double e2 = check(AttentionShape.packed(1, 300, 8, 4, 256, 0, 1f / 16), 2);
        CudaTestSupport.report("attention", "rel. error causal GQA (37x64, 300x256)", CudaTestSupport.sci(Math.max(e1, e2)));
    }

    @Test
    void slidingWindow() {
        double e = check(AttentionShape.packed(2, 100, 4, 1, 128, 32, 1f / 16), 3);
        CudaTestSupport.report("attention", "rel. error sliding window 32, 100 tokens", CudaTestSupport.sci(e));
    }

    @Test
    void largeHeadsSoftcapAndQueriesAfterACache() {
        // Gemma 4 full layers: head_dim 512. Two new queries at positions 50, 51 over a 52-key cache.
        long q = 4 * 512, kv = 512;
        double e1 = check(new AttentionShape(1, 2, 52, 4, 1, 512, 50, 0, 1f, 0f, q, 2 * q, kv, 52 * kv, q, 2 * q), 4);
        double e2 = check(new AttentionShape(1, 20, 20, 2, 2, 32, 0, 0, 0.5f, 5f, 64, 20 * 64, 64, 20 * 64, 64, 20 * 64), 5);
        CudaTestSupport.report("attention", "rel. error head_dim 512 after cache / softcap", CudaTestSupport.sci(Math.max(e1, e2)));
    }
}
