package dev.requant.runtime.cpu;

import dev.requant.runtime.model.WeightTensor;
import dev.requant.runtime.cpu.RowDecoders.RowDecoder;
import java.util.Arrays;

/**
 * {@code y = x·Wᵀ} for a weight in its stored type: weight rows are decoded a panel at a time (a few KiB to a MiB of
 * floats per thread), never the whole matrix, and the products run on the float kernels of {@link PanelGemm}. Work is
 * split over output rows across the {@link CpuThreads}.
 */
public final class MatMul {
    /** Below this many activation rows, decoding a panel costs more than it saves: use row dot products. */
    static final int PANEL_MIN_ROWS = 3;
    private static final int DOT_ROWS_PER_ITEM = 16;

    private final CpuThreads threads;
    private final boolean vector;
    private final float[][] rowScratch;
    private final float[][] panelScratch;

    /**
     * @param vector true for the Vector API kernels, false for the scalar references (tests; bit-identical on the
     *     panel path)
     */
    public MatMul(CpuThreads threads, boolean vector) {
        this.threads = threads;
        this.vector = vector;
        rowScratch = new float[threads.size()][];
        panelScratch = new float[threads.size()][];
    }

    public CpuThreads threads() { return threads; }

    /**
     * {@code y[yOff + t*ldy + o] = scale(m) · Σ_k x[xOff + t*ldx + k] · W[m][o][k]} for {@code t < nRows},
     * {@code o < w.rows()}.
     *
     * @param m the matrix of a stacked (expert) tensor, 0 for a plain one
     */
    public void multiply(WeightTensor w, int m, float[] x, int xOff, int ldx, int nRows, float[] y, int yOff, int ldy) {
        if (nRows <= 0) return;
        int K = w.cols(), O = w.rows();
        if (ldx < K || ldy < O) throw new IllegalArgumentException(w.name() + ": leading dimensions " + ldx + "/" + ldy + " too small for " + K + "x" + O);
        RowDecoder decoder = vector ? RowDecoders.fast(w.type()) : RowDecoders.scalar(w.type());
        float scale = w.outputScale(m);
        long rowBytes = w.rowBytes();
        long base = w.rowOffset(m, 0);
        if (nRows >= PANEL_MIN_ROWS) {
            int NR = PanelGemm.NR;
            int groups = (O + NR - 1) / NR;
            threads.parallelFor(groups, (worker, g) -> {
                float[] row = scratch(rowScratch, worker, K);
                float[] panel = scratch(panelScratch, worker, K * NR);
                int o0 = g * NR;
                int valid = Math.min(NR, O - o0);
                if (valid < NR) Arrays.fill(panel, 0, K * NR, 0f);
                for (int j = 0; j < valid; j++) {
                    decoder.decode(w.data(), base + (o0 + j) * rowBytes, row, 0, K);
                    PanelGemm.toPanel(row, K, panel, j);
                }
                if (vector) PanelGemm.multiplyPanel(x, xOff, ldx, nRows, K, panel, y, yOff + o0, ldy, valid);
                else PanelGemm.referencePanel(x, xOff, ldx, nRows, K, panel, y, yOff + o0, ldy, valid);
                if (scale != 1f) scale(y, ldy, nRows, yOff + o0, valid, scale);
            });
        } else {
            int items = (O + DOT_ROWS_PER_ITEM - 1) / DOT_ROWS_PER_ITEM;
            threads.parallelFor(items, (worker, item) -> {
                float[] row = scratch(rowScratch, worker, K);
                int o0 = item * DOT_ROWS_PER_ITEM, o1 = Math.min(O, o0 + DOT_ROWS_PER_ITEM);
                for (int o = o0; o < o1; o++) {
                    decoder.decode(w.data(), base + o * rowBytes, row, 0, K);
                    for (int t = 0; t < nRows; t++) {
                        int xo = xOff + t * ldx;
                        float s = vector ? PanelGemm.dot(row, 0, x, xo, K) : PanelGemm.referenceDot(row, 0, x, xo, K);
                        y[yOff + t * ldy + o] = s * scale;
                    }
                }
            });
        }
    }

    private static void scale(float[] y, int ldy, int nRows, int o0, int n, float s) {
        for (int t = 0; t < nRows; t++) {
            int off = t * ldy + o0;
            for (int j = 0; j < n; j++) y[off + j] *= s;
        }
    }

    private static float[] scratch(float[][] pool, int worker, int size) {
        float[] a = pool[worker];
        if (a == null || a.length < size) pool[worker] = a = new float[size];
        return a;
    }
}
