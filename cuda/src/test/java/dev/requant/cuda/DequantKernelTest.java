package dev.requant.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.formats.ggml.BFloat16;
import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.ggml.GgmlType;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Dequantization and embedding lookups against the formats module's llama.cpp-exact block codecs. */
class DequantKernelTest {
    /** Every type the GPU reads: each against its BlockCodec (the CPU eval's decoder, bit-exact with ggml). */
    static final GgmlType[] TYPES = {GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0,
        GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.MXFP4,
        GgmlType.NVFP4, GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q1_0, GgmlType.Q2_0, GgmlType.TQ1_0, GgmlType.TQ2_0,
        GgmlType.IQ4_NL, GgmlType.IQ4_XS, GgmlType.IQ2_XXS, GgmlType.IQ2_XS, GgmlType.IQ2_S, GgmlType.IQ3_XXS,
        GgmlType.IQ3_S, GgmlType.IQ1_S, GgmlType.IQ1_M};

    /** A table of rows x cols encoded by the reference codec. */
    static byte[] encode(GgmlType t, float[] x, int rows, int cols) {
        BlockCodec c = BlockCodec.of(t);
        long rowBytes = t.rowBytes(cols);
        MemorySegment seg = MemorySegment.ofArray(new byte[(int) (rowBytes * rows)]);
        // the IQ1/IQ2 encoders need importance weights (as ggml's); any positive ones make valid blocks to decode
        float[] importance = null;
        if (c.requiresImportance()) {
            importance = new float[cols];
            for (int i = 0; i < cols; i++) importance[i] = 1f + (i % 7) * 0.25f;
        }
        for (int r = 0; r < rows; r++) c.encodeRow(x, r * cols, cols, importance, seg, r * rowBytes);
        return seg.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
    }

    static float[] decode(GgmlType t, byte[] table, int rows, int cols) {
        float[] out = new float[rows * cols];
        BlockCodec.of(t).decode(MemorySegment.ofArray(table), 0, out, 0, rows * cols);
        return out;
    }

    @Test
    void everyTypeTheGpuReadsIsListed() {
        for (GgmlType t : GgmlType.values()) {
            if (CudaKernels.reads(t)) assertThat(TYPES).as("a test for %s", t).contains(t);
        }
    }

    @Test
    void dequantizeToF32AndBf16IsExact() {
        Random r = new Random(12);
        int rows = 37, cols = 512;
        for (GgmlType t : TYPES) {
            float[] x = CudaTestSupport.gaussian(r, rows * cols, 0.05);
            x[3] = 0f;
            checkDequantize(t, encode(t, x, rows, cols), rows, cols, 1f);
        }
        CudaTestSupport.report("dequantize", TYPES.length + " types (encoded rows) -> f32, bf16", "bit-exact");
    }

    @Test
    void arbitraryBlocksAndOutputScalesDecodeAsOnTheCpu() {
        // random bytes reach every scale, min and high-bit pattern (and non-finite f16/e8m0 scales) that an encoder
        // may not produce; a tensor's output scale multiplies each decoded value once
        Random r = new Random(14);
        int rows = 5, cols = 1024;
        for (GgmlType t : TYPES) {
            byte[] table = new byte[(int) (t.rowBytes(cols) * rows)];
            r.nextBytes(table);
            checkDequantize(t, table, rows, cols, 1f);
            checkDequantize(t, table, rows, cols, 0.37f);
        }
        CudaTestSupport.report("dequantize", TYPES.length + " types (random blocks, x output scale)", "bit-exact");
    }

    private static void checkDequantize(GgmlType t, byte[] table, int rows, int cols, float scale) {
        CudaDevice d = CudaTestSupport.device();
        CudaKernels k = CudaTestSupport.kernels();
        {
            float[] want = decode(t, table, rows, cols);
            if (scale != 1f) for (int i = 0; i < want.length; i++) want[i] *= scale;
            DeviceBuffer src = d.allocate(table.length), f32 = d.allocate(4L * want.length), bf = d.allocate(2L * want.length);
            try {
                d.copyToDevice(table, src);
                d.fill32(f32, 0x7fc00001);
                k.dequantize(d.defaultStream(), src, t, want.length, f32, false, scale);
                k.dequantize(d.defaultStream(), src, t, want.length, bf, true, scale);
                float[] got = d.floats(f32, want.length);
                for (int i = 0; i < want.length; i++) {
                    if (Float.floatToIntBits(got[i]) != Float.floatToIntBits(want[i])) {
                        throw new AssertionError(t + " x " + scale + " element " + i + ": GPU " + got[i] + ", CPU " + want[i]);
                    }
                }
                short[] b = d.shorts(bf, want.length);
                for (int i = 0; i < want.length; i++) {
                    if (Float.isNaN(want[i])) continue; // NaN payloads: bf16 of a NaN is a NaN, bits aside
                    assertThat(b[i]).as("%s bf16[%d]", t, i).isEqualTo(BFloat16.fromFloat(want[i]));
                }
            } finally {
                d.free(src);
                d.free(f32);
                d.free(bf);
            }
        }
    }

    @Test
    void embeddingLookupScalesTheDecodedRows() {
        CudaDevice d = CudaTestSupport.device();
        CudaKernels k = CudaTestSupport.kernels();
        Random r = new Random(13);
        int vocab = 300, cols = 256;
        int[] ids = {0, 299, 5, 5, 123, 42, 7};
        float scale = (float) Math.sqrt(cols);
        for (GgmlType t : TYPES) {
            float[] x = CudaTestSupport.gaussian(r, vocab * cols, 0.1);
            byte[] table = encode(t, x, vocab, cols);
            float[] all = decode(t, table, vocab, cols);
            int outStride = cols + 32;
            DeviceBuffer dt = d.allocate(table.length), di = d.allocate(4L * ids.length), dout = d.allocate(4L * ids.length * outStride);
            try {
                d.copyToDevice(table, dt);
                d.copyToDevice(ids, di);
                k.getRows(d.defaultStream(), dt, t, cols, di, ids.length, scale, dout, outStride);
                float[] out = d.floats(dout, ids.length * outStride);
                for (int i = 0; i < ids.length; i++) {
                    for (int j = 0; j < cols; j++) {
                        assertThat(out[i * outStride + j]).as("%s token %d col %d", t, ids[i], j).isEqualTo(all[ids[i] * cols + j] * scale);
                    }
                }
            } finally {
                d.free(dt);
                d.free(di);
                d.free(dout);
            }
        }
        CudaTestSupport.report("get_rows", TYPES.length + " table types x 7 tokens, x sqrt(n_embd)", "bit-exact");
    }
}
