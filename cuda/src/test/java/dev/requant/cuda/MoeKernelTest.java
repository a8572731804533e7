package dev.requant.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The mixture-of-experts kernels against plain Java references: routing (softmax, top-k with ties to the lower
 * expert, weights normalized over the chosen, as runtime.cpu.MoeBlock), row gathering with the bf16 split, and the
 * weighted combination of the experts' rows.
 */
class MoeKernelTest {
    @Test
    void routingPicksTheTopKLikeTheCpu() {
        CudaDevice d = CudaTestSupport.device();
        CudaKernels k = CudaTestSupport.kernels();
        Random r = new Random(31);
        int tokens = 300, nExp = 128, top = 8;
        float[] logits = CudaTestSupport.gaussian(r, tokens * nExp, 2.0);
        logits[5 * nExp + 7] = logits[5 * nExp + 90] = 9f; // a tie: expert 7 first
        DeviceBuffer dl = d.allocate(4L * logits.length), ids = d.allocate(4L * tokens * top), w = d.allocate(4L * tokens * top);
        try {
            d.copyToDevice(logits, dl);
            k.moeRoute(d.defaultStream(), dl, tokens, nExp, top, ids, w);
            int[] gi = d.ints(ids, tokens * top);
            float[] gw = d.floats(w, tokens * top);
            for (int t = 0; t < tokens; t++) {
                // reference: softmax (double sum), top-k by descending probability, the lower id on ties
                float max = Float.NEGATIVE_INFINITY;
                for (int e = 0; e < nExp; e++) max = Math.max(max, logits[t * nExp + e]);
                double sum = 0;
                float[] p = new float[nExp];
                for (int e = 0; e < nExp; e++) sum += p[e] = (float) Math.exp(logits[t * nExp + e] - max);
                float inv = (float) (1.0 / sum);
                for (int e = 0; e < nExp; e++) p[e] *= inv;
                boolean[] taken = new boolean[nExp];
                double s = 0;
                int[] want = new int[top];
                for (int j = 0; j < top; j++) {
                    int best = -1;
                    for (int e = 0; e < nExp; e++) if (!taken[e] && (best < 0 || p[e] > p[best])) best = e;
                    taken[best] = true;
                    want[j] = best;
                    s += p[best];
                }
                for (int j = 0; j < top; j++) {
                    assertThat(gi[t * top + j]).as("token %d slot %d", t, j).isEqualTo(want[j]);
                    assertThat(gw[t * top + j]).as("token %d weight %d", t, j).isCloseTo((float) (p[want[j]] / s), within(2e-6f));
                }
            }
            assertThat(gi[5 * top]).isEqualTo(7);
            assertThat(gi[5 * top + 1]).isEqualTo(90);
        } finally {
            d.free(dl);
            d.free(ids);
            d.free(w);
        }
        CudaTestSupport.report("moe_route", "300 tokens, top 8 of 128", "ids exact, weights 2e-6");
    }

    @Test
    void gatherAndCombineFollowTheirReferences() {
        CudaDevice d = CudaTestSupport.device();
        CudaKernels k = CudaTestSupport.kernels();
        Random r = new Random(32);
        int tokens = 50, n = 96, top = 4, rows = tokens * top;
        float[] src = CudaTestSupport.gaussian(r, tokens * n, 1.0);
        int[] perm = new int[rows], pos = new int[rows];
        for (int i = 0; i < rows; i++) perm[i] = i % 7 == 3 ? -1 : r.nextInt(tokens); // -1: a padding row, zeros
        // each token's k rows at distinct positions, in random order
        java.util.List<Integer> all = new java.util.ArrayList<>();
        for (int i = 0; i < rows; i++) all.add(i);
        java.util.Collections.shuffle(all, r);
        for (int i = 0; i < rows; i++) pos[i] = all.get(i);
        float[] w = new float[rows];
        for (int i = 0; i < rows; i++) w[i] = r.nextFloat();
        float[] dRows = CudaTestSupport.gaussian(r, rows * n, 1.0);
        DeviceBuffer ds = d.allocate(4L * src.length), dp = d.allocate(4L * rows), dx = d.allocate(4L * rows * n),
                dxb = d.allocate(2L * rows * n), dxl = d.allocate(2L * rows * n), dd = d.allocate(4L * dRows.length),
                dpos = d.allocate(4L * rows), dw = d.allocate(4L * rows), dout = d.allocate(4L * tokens * n);
        try {
            d.copyToDevice(src, ds);
            d.copyToDevice(perm, dp);
            k.gatherRows(d.defaultStream(), ds, dp, rows, n, dx, dxb, dxl);
            float[] gx = d.floats(dx, rows * n);
            short[] hi = d.shorts(dxb, rows * n), lo = d.shorts(dxl, rows * n);
            for (int i = 0; i < rows; i++) {
                for (int j = 0; j < n; j++) {
                    float v = perm[i] < 0 ? 0f : src[perm[i] * n + j];
                    assertThat(gx[i * n + j]).isEqualTo(v);
                    short h = dev.requant.formats.ggml.BFloat16.fromFloat(v);
                    assertThat(hi[i * n + j]).isEqualTo(h);
                    assertThat(lo[i * n + j]).isEqualTo(dev.requant.formats.ggml.BFloat16.fromFloat(v - dev.requant.formats.ggml.BFloat16.toFloat(h)));
                }
            }
            d.copyToDevice(dRows, dd);
            d.copyToDevice(pos, dpos);
            d.copyToDevice(w, dw);
            k.moeCombine(d.defaultStream(), dd, dpos, dw, tokens, top, n, dout);
            float[] out = d.floats(dout, tokens * n);
            for (int t = 0; t < tokens; t++) {
                int base = t * top;
                int[] order = java.util.stream.IntStream.range(0, top).boxed()
                        .sorted(java.util.Comparator.comparingInt(j -> pos[base + j])).mapToInt(Integer::intValue).toArray();
                for (int j = 0; j < n; j++) {
                    float acc = 0f;
                    for (int q : order) acc += w[t * top + q] * dRows[pos[t * top + q] * n + j];
                    assertThat(out[t * n + j]).as("token %d col %d", t, j).isCloseTo(acc, within(1e-5f * Math.max(1f, Math.abs(acc))));
                }
            }
        } finally {
            for (DeviceBuffer b : new DeviceBuffer[] {ds, dp, dx, dxb, dxl, dd, dpos, dw, dout}) d.free(b);
        }
        CudaTestSupport.report("gather_rows/moe_combine", "200 rows of 96, top 4", "exact / 1e-5");
    }

    /**
     * The experts' imatrix sums in two launches against one {@link CudaKernels#imatrixRows} per expert: the same floats
     * bit for bit, with empty experts, groups shorter and longer than a segment, padding rows between groups (the
     * batched GEMMs' layout), and a first_bad left alone.
     */
    @Test
    void expertImatrixSegmentsEqualOneCallPerExpert() {
        CudaDevice d = CudaTestSupport.device();
        CudaKernels k = CudaTestSupport.kernels();
        Random r = new Random(41);
        int nExp = 9, cols = 200;
        int[] count = {0, 1, 63, 64, 65, 200, 0, 7, 130};
        int[] start = new int[nExp + 1];
        for (int e = 0; e < nExp; e++) start[e + 1] = start[e] + (count[e] + 63) / 64 * 64; // padded groups
        int rows = start[nExp];
        float[] x = CudaTestSupport.gaussian(r, rows * cols, 1.5);
        float[] base = CudaTestSupport.gaussian(r, nExp * cols, 3.0);
        CudaKernels.ExpertSegments seg = CudaKernels.ExpertSegments.of(start, count, nExp);
        assertThat(seg.experts()).isEqualTo(7);
        assertThat(seg.segments()).isEqualTo(1 + 1 + 1 + 2 + 4 + 1 + 3);
        DeviceBuffer dx = d.allocate(4L * x.length), s1 = d.allocate(4L * base.length), s2 = d.allocate(4L * base.length);
        DeviceBuffer scratch = d.allocate(4L * (rows / 64 + nExp) * cols), table = d.allocate(4L * seg.table().length);
        DeviceBuffer bad1 = d.allocate(4), bad2 = d.allocate(4);
        try {
            d.copyToDevice(x, dx);
            d.copyToDevice(base, s1);
            d.copyToDevice(base, s2);
            d.fill32(bad1, Integer.MAX_VALUE);
            d.fill32(bad2, Integer.MAX_VALUE);
            for (int e = 0; e < nExp; e++) {
                if (count[e] == 0) continue;
                k.imatrixRows(d.defaultStream(), dx.slice(4L * start[e] * cols, 4L * count[e] * cols), cols, count[e], cols, scratch,
                        s1.slice(4L * e * cols, 4L * cols), bad1);
            }
            d.copyToDevice(java.lang.foreign.MemorySegment.ofArray(seg.table()), table);
            k.imatrixExpertRows(d.defaultStream(), dx, cols, seg, table, cols, scratch, s2, bad2);
            float[] want = d.floats(s1, base.length), got = d.floats(s2, base.length);
            for (int i = 0; i < got.length; i++) {
                assertThat(Float.floatToRawIntBits(got[i])).as("sum %d", i).isEqualTo(Float.floatToRawIntBits(want[i]));
            }
            // the empty experts' sums are untouched
            for (int j = 0; j < cols; j++) assertThat(got[6 * cols + j]).isEqualTo(base[6 * cols + j]);
            assertThat(d.ints(bad2, 1)[0]).isEqualTo(Integer.MAX_VALUE);
            CudaTestSupport.report("imatrix_partial_seg", "7 experts of 0-200 rows vs one imatrixRows each", "bit-identical");
        } finally {
            for (DeviceBuffer b : new DeviceBuffer[] {dx, s1, s2, scratch, table, bad1, bad2}) d.free(b);
        }
    }
}
