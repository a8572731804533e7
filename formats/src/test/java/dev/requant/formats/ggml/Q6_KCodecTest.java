package dev.requant.formats.ggml;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class Q6_KCodecTest extends BlockCodecContract {
    @Override GgmlType type() { return GgmlType.Q6_K; }

    @Override double blockRelativeError() { return 0.03; }

    /**
     * finish's vector-friendly loop (all sub-block scales usual, quotients below 2^22) against ggml's loop as written:
     * random super-blocks and sub-block scales, plus the cases that must take the other path: a sub-block scale that
     * rounds to 0 (ggml keeps the fit's codes there), a d that overflows fp16 (infinite, and NaN where the 8-bit scale
     * is 0), and quotients beyond 2^22 where nearest_int's bit trick gives ggml's garbage.
     */
    @Test
    void finishMatchesGgmlsLoop() {
        SplittableRandom r = new SplittableRandom(6);
        for (int c = 0; c < 3000; c++) {
            float[] x = weights(r, 256, 0.02);
            float[] scales = new float[16];
            for (int j = 0; j < 16; j++) scales[j] = (float) (r.nextDouble(0.2, 1.5) * 0.02 / 20) * (r.nextBoolean() ? 1 : -1);
            switch (c % 6) {
                case 1 -> scales[r.nextInt(16)] = 1e-9f; // 8-bit scale 0
                case 2 -> Arrays.fill(scales, 1e7f); // d0 = fp16(-maxScale/128) overflows
                case 3 -> { // d0 overflows and one 8-bit scale is 0: d = inf*0 = NaN there
                    Arrays.fill(scales, 1e7f);
                    scales[3] = 1f;
                }
                case 4 -> { // a sub-block with 8-bit scale 1 whose values are far beyond 2^22 times its d
                    scales[0] = 1f;
                    scales[5] = 1f / 128;
                    for (int i = 80; i < 96; i++) x[i] = 1e6f * (i - 87.5f);
                }
                case 5 -> x[r.nextInt(256)] = 0f;
                default -> { }
            }
            byte[] L = new byte[256], Lref = new byte[256];
            for (int i = 0; i < 256; i++) L[i] = Lref[i] = (byte) r.nextInt(64);
            byte[] blk = new byte[Q6_KCodec.BLOCK_BYTES], ref = new byte[Q6_KCodec.BLOCK_BYTES];
            Q6_KCodec.finish(x, 0, scales, 0, L, 0, blk);
            finishAsGgml(x, scales, Lref, ref);
            assertThat(L).as("codes, case %d", c).isEqualTo(Lref);
            assertThat(blk).as("block, case %d", c).isEqualTo(ref);
        }
    }

    /** quantize_row_q6_K_impl after the sub-block fits, transliterated (the pre-vector finish). */
    private static void finishAsGgml(float[] x, float[] scales, byte[] L, byte[] blk) {
        float maxScale = 0, maxAbsScale = 0;
        for (int ib = 0; ib < 16; ++ib) {
            float scale = scales[ib], abs = Math.abs(scale);
            if (abs > maxAbsScale) {
                maxAbsScale = abs;
                maxScale = scale;
            }
        }
        if (maxAbsScale < QuantFit.GROUP_MAX_EPS) return;
        float iscale = -128.f / maxScale;
        Q4_KCodec.putShort(blk, 208, Float16.fromFloat(1 / iscale));
        for (int ib = 0; ib < 16; ++ib) blk[192 + ib] = (byte) Math.min(127, Rounding.nearestInt(iscale * scales[ib]));
        float d0 = Float16.toFloat(Q4_KCodec.getShort(blk, 208));
        for (int j = 0; j < 16; ++j) {
            float d = d0 * blk[192 + j];
            if (d == 0) continue;
            for (int ii = 0; ii < 16; ++ii) {
                int l = Math.max(-32, Math.min(31, Rounding.nearestInt(x[16 * j + ii] / d)));
                L[16 * j + ii] = (byte) (l + 32);
            }
        }
        for (int j = 0, ql = 0, qh = 128; j < 256; j += 128, ql += 64, qh += 32) {
            for (int l = 0; l < 32; ++l) {
                blk[ql + l] = (byte) ((L[j + l] & 0xF) | ((L[j + l + 64] & 0xF) << 4));
                blk[ql + l + 32] = (byte) ((L[j + l + 32] & 0xF) | ((L[j + l + 96] & 0xF) << 4));
                blk[qh + l] = (byte) ((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6));
            }
        }
    }
}
