package dev.requant.formats.ggml;

import dev.requant.formats.io.LittleEndian;
import java.lang.foreign.MemorySegment;

/**
 * Q4_0: 18-byte blocks of 32, {@code fp16 d; uint8 qs[16]}; element j in the low nibble of qs[j], element j+16 in
 * the high nibble; value = (q-8)*d. The encoder without importance is quantize_row_q4_0_ref (d = signed extremum/-8).
 */
final class Q4_0Codec implements BlockCodec {
    static final int QK = 32;
    static final int BLOCK_BYTES = 18;

    @Override public GgmlType type() { return GgmlType.Q4_0; }

    @Override
    public void decode(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        for (int b = 0; b < n / QK; b++) {
            long base = srcOffset + (long) b * BLOCK_BYTES;
            float d = Float16.toFloat(src.get(LittleEndian.SHORT, base));
            int o = dstOffset + b * QK;
            for (int j = 0; j < QK / 2; j++) {
                int q = src.get(LittleEndian.BYTE, base + 2 + j) & 0xFF;
                dst[o + j] = ((q & 0x0F) - 8) * d;
                dst[o + j + QK / 2] = ((q >>> 4) - 8) * d;
            }
        }
    }

    @Override
    public void encodeRow(float[] x, int srcOffset, int n, float[] importance, MemorySegment dst, long dstOffset) {
        if (importance != null) {
            throw new UnsupportedOperationException("importance-weighted Q4_0 is not implemented yet");
        }
        for (int b = 0; b < n / QK; b++) {
            int o = srcOffset + b * QK;
            float amax = 0f, max = 0f;
            for (int j = 0; j < QK; j++) {
                float v = x[o + j];
                if (amax < Math.abs(v)) {
                    amax = Math.abs(v);
                    max = v;
                }
            }
            float d = max / -8f;
            float id = d != 0f ? 1f / d : 0f;
            long base = dstOffset + (long) b * BLOCK_BYTES;
            dst.set(LittleEndian.SHORT, base, Float16.fromFloat(d));
            for (int j = 0; j < QK / 2; j++) {
                float x0 = x[o + j] * id;
                float x1 = x[o + j + QK / 2] * id;
                int q0 = Math.min(15, (byte) (int) (x0 + 8.5f)); // float add, then truncation toward zero
                int q1 = Math.min(15, (byte) (int) (x1 + 8.5f));
                dst.set(LittleEndian.BYTE, base + 2 + j, (byte) (q0 | (q1 << 4)));
            }
        }
    }
}
