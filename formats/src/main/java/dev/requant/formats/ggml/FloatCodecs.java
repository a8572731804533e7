package dev.requant.formats.ggml;

import dev.requant.formats.io.LittleEndian;
import java.lang.foreign.MemorySegment;

/** The unquantized types: one element per "block". Conversions are ggml's (RNE for F16 and BF16). */
final class FloatCodecs {
    private FloatCodecs() {}

    static final class F32 implements BlockCodec {
        @Override public GgmlType type() { return GgmlType.F32; }

        @Override
        public void decode(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
            MemorySegment.copy(src, LittleEndian.FLOAT, srcOffset, dst, dstOffset, n);
        }

        @Override
        public void encodeRow(float[] src, int srcOffset, int n, float[] importance, MemorySegment dst, long dstOffset) {
            MemorySegment.copy(src, srcOffset, dst, LittleEndian.FLOAT, dstOffset, n);
        }
    }

    static final class F16 implements BlockCodec {
        @Override public GgmlType type() { return GgmlType.F16; }

        @Override
        public void decode(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
            for (int i = 0; i < n; i++) dst[dstOffset + i] = Float16.toFloat(src.get(LittleEndian.SHORT, srcOffset + 2L * i));
        }

        @Override
        public void encodeRow(float[] src, int srcOffset, int n, float[] importance, MemorySegment dst, long dstOffset) {
            for (int i = 0; i < n; i++) dst.set(LittleEndian.SHORT, dstOffset + 2L * i, Float16.fromFloat(src[srcOffset + i]));
        }
    }

    static class BF16 implements BlockCodec {
        @Override public GgmlType type() { return GgmlType.BF16; }

        @Override
        public void decode(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
            Bf16Rows.toFloat(src, srcOffset, dst, dstOffset, n);
        }

        @Override
        public void encodeRow(float[] src, int srcOffset, int n, float[] importance, MemorySegment dst, long dstOffset) {
            for (int i = 0; i < n; i++) dst.set(LittleEndian.SHORT, dstOffset + 2L * i, BFloat16.fromFloat(src[srcOffset + i]));
        }
    }
}
