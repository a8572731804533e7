package dev.requant.converter.quantize.search;

import dev.requant.formats.ggml.E8m0;
import dev.requant.formats.ggml.Fp4E2M1;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.io.LittleEndian;
import java.lang.foreign.MemorySegment;

/**
 * The exhaustive search for MXFP4: llama.cpp fixes the power-of-two scale at floor(log2(amax)) - 2 (so amax lands in
 * [4, 8) times the scale, and values above 6 times it saturate); this tries the exponents around it (+-2) and, for each,
 * the nearest FP4 code per element (the error is separable, so that is the optimum for the exponent), keeping the
 * exponent with the least weighted error.
 */
final class Mxfp4ScaleSearch extends SearchingCodec {
    static final int RANGE = 2;
    private final ThreadLocal<int[][]> scratch = ThreadLocal.withInitial(() -> new int[2][32]);

    Mxfp4ScaleSearch() {
        super(GgmlType.MXFP4);
    }

    @Override
    void improve(float[] x, int xo, float[] w, int wo, double llamaError, MemorySegment dst, long block) {
        int[][] s = scratch.get();
        int e0 = dst.get(LittleEndian.BYTE, block) & 0xFF;
        double bestError = llamaError;
        int bestE = -1;
        for (int e = Math.max(1, e0 - RANGE); e <= Math.min(254, e0 + RANGE); e++) {
            if (e == e0) continue; // llama.cpp's own choice, already measured
            float half = E8m0.toFloatHalf(e);
            double err = 0;
            for (int j = 0; j < 32 && err < bestError; j++) {
                float xj = x[xo + j];
                int c = Fp4E2M1.nearestCode(xj, half);
                s[0][j] = c;
                double diff = (double) xj - Fp4E2M1.doubled(c) * half;
                err += w[wo + j] * diff * diff;
            }
            if (err < bestError) {
                bestError = err;
                bestE = e;
                System.arraycopy(s[0], 0, s[1], 0, 32);
            }
        }
        if (bestE < 0) return;
        dst.set(LittleEndian.BYTE, block, (byte) bestE);
        for (int j = 0; j < 16; j++) dst.set(LittleEndian.BYTE, block + 1 + j, (byte) (s[1][j] | (s[1][j + 16] << 4)));
    }
}
