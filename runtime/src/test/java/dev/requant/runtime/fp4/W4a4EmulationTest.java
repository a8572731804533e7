package dev.requant.runtime.fp4;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.ggml.Float8;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.runtime.cpu.CpuThreads;
import java.lang.foreign.MemorySegment;
import org.junit.jupiter.api.Test;

class W4a4EmulationTest {
    @Test
    void e2m1RoundsToNearestWithTiesToEvenAndSaturates() {
        float[] in = {0f, 0.25f, 0.26f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5f, 5.01f, 7f, 1e9f, -2.5f, -0.25f};
        float[] want = {0f, 0f, 0.5f, 1f, 1f, 2f, 2f, 4f, 4f, 6f, 6f, 6f, -2f, -0f};
        for (int i = 0; i < in.length; i++) assertThat(Nvfp4Activations.e2m1(Nvfp4Activations.e2m1Rne(in[i]))).as("%s", in[i]).isEqualTo(want[i]);
    }

    @Test
    void activationBlocksReconstructWithinFp4Precision() {
        int rows = 3, cols = 128;
        float[] x = Fp4TestData.activations(1, rows, cols);
        float inputScale = 40f / 2688f, gs = 1f / inputScale;
        byte[] codes = new byte[rows * cols], sc = new byte[rows * cols / 16];
        for (int t = 0; t < rows; t++) Nvfp4Activations.quantizeRow(x, t * cols, cols, gs, codes, t * cols, sc, t * cols / 16);
        for (int b = 0; b < rows * cols / 16; b++) {
            float amax = 0f;
            for (int j = 0; j < 16; j++) amax = Math.max(amax, Math.abs(x[b * 16 + j]));
            assertThat(sc[b] & 0xFF).isEqualTo(Float8.e4m3FromFloatSaturating(gs * (amax / 6f)) & 0xFF);
            float step = Float8.e4m3ToFloat(sc[b]) / gs; // one E2M1 unit (value 1.0) of this block
            for (int j = 0; j < 16; j++) {
                float q = Nvfp4Activations.dequantize(codes[b * 16 + j], sc[b], gs);
                float err = Math.abs(q - x[b * 16 + j]);
                // inside the grid the error is at most half a grid step (1.0 at the top: 4..6); beyond 6 it saturates
                if (Math.abs(x[b * 16 + j]) <= 6 * step) assertThat(err).isLessThanOrEqualTo(step * 1.0001f);
            }
        }
    }

    @Test
    void emulatedProductIsTheExactSumRoundedOncePerBlock() {
        int rows = 5, out = 37, cols = 320; // odd output count, K not a power of two
        float[] x = Fp4TestData.activations(2, rows, cols);
        MemorySegment w = Fp4TestData.weight(3, out, cols);
        float inputScale = 30f / 2688f, alpha = inputScale * 0.75f;
        float[] y = new float[rows * out];
        try (CpuThreads threads = new CpuThreads(2)) {
            new CpuFp4Gemm(threads).multiply("w", w, out, cols, x, rows, 1f / inputScale, alpha, y);
        }
        byte[] codes = new byte[rows * cols], sc = new byte[rows * cols / 16];
        for (int t = 0; t < rows; t++) Nvfp4Activations.quantizeRow(x, t * cols, cols, 1f / inputScale, codes, t * cols, sc, t * cols / 16);
        float[] wd = new float[cols];
        BlockCodec dec = BlockCodec.reference(GgmlType.NVFP4);
        for (int o = 0; o < out; o++) {
            dec.decode(w, o * GgmlType.NVFP4.rowBytes(cols), wd, 0, cols);
            for (int t = 0; t < rows; t++) {
                double exact = 0, mag = 0;
                for (int k = 0; k < cols; k++) {
                    double a = Nvfp4Activations.e2m1(codes[t * cols + k]) * (double) Float8.e4m3ToFloat(sc[t * cols / 16 + k / 16]);
                    exact += a * wd[k];
                    mag += Math.abs(a * wd[k]);
                }
                exact *= alpha;
                // K/16 float additions, each within half an ulp of the running sum, plus the alpha product
                double bound = (cols / 16 + 1) * Math.ulp((float) (mag * alpha));
                assertThat(Math.abs(y[t * out + o] - exact)).as("t%d o%d", t, o).isLessThanOrEqualTo(bound);
            }
        }
    }

    @Test
    void overrideUsesTheStaticInputScaleOrADynamicOne() {
        int rows = 2, out = 8, cols = 64;
        MemorySegment wseg = Fp4TestData.weight(4, out, cols);
        float[] x = Fp4TestData.activations(5, rows, cols);
        var wt = new dev.requant.runtime.model.WeightTensor("blk.0.ffn_up.weight", GgmlType.NVFP4, new long[] {cols, out}, wseg, new float[] {0.5f});
        float[] got = new float[rows * out], want = new float[rows * out];
        try (CpuThreads threads = new CpuThreads(1)) {
            CpuFp4Gemm g = new CpuFp4Gemm(threads);
            W4a4MatMul mm = new W4a4MatMul(emptySource(), g);
            assertThat(mm.multiply(wt, x, rows, got)).isTrue();
            assertThat(mm.dynamicCalls()).isEqualTo(1);
            float amax = 0f;
            for (float v : x) amax = Math.max(amax, Math.abs(v));
            float s = amax / 2688f;
            g.multiply("w", wseg, out, cols, x, rows, 1f / s, s * 0.5f, want);
            assertThat(got).containsExactly(want);
            var bf = new dev.requant.runtime.model.WeightTensor("blk.0.ffn_up.weight", GgmlType.BF16, new long[] {cols, out}, wseg, null);
            assertThat(mm.multiply(bf, x, rows, got)).isFalse();
        }
    }

    private static dev.requant.formats.model.ModelSource emptySource() {
        return new dev.requant.formats.model.ModelSource() {
            @Override public java.nio.file.Path path() { return java.nio.file.Path.of("none"); }
            @Override public dev.requant.formats.gguf.GgufMetadata metadata() { return new dev.requant.formats.gguf.GgufMetadata(); }
            @Override public java.util.List<dev.requant.formats.gguf.GgufTensorSpec> tensors() { return java.util.List.of(); }
            @Override public java.util.Optional<dev.requant.formats.gguf.GgufTensorSpec> tensor(String n) { return java.util.Optional.empty(); }
            @Override public MemorySegment data(String n) { throw new java.util.NoSuchElementException(n); }
            @Override public void close() {}
        };
    }
}
