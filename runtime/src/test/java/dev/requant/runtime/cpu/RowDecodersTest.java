package dev.requant.runtime.cpu;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.ggml.GgmlType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Every fast decoder against the codec's scalar decode, bit for bit, on encoded rows and on raw random bytes. */
class RowDecodersTest {
    @ParameterizedTest
    @EnumSource(names = {"F32", "F16", "BF16", "Q8_0", "Q4_0"})
    void fastDecoderEqualsCodecOnRandomBytes(GgmlType type) {
        SplittableRandom rnd = new SplittableRandom(type.ordinal());
        int bs = type.blockSize();
        for (int blocks : new int[] {1, 2, 3, 7, 16, 33, 101}) {
            int n = blocks * bs;
            long bytes = type.rowBytes(n);
            try (Arena arena = Arena.ofConfined()) {
                // a leading odd offset: rows inside real files start anywhere
                MemorySegment seg = arena.allocate(bytes + 3);
                for (long i = 0; i < seg.byteSize(); i++) seg.set(ValueLayout.JAVA_BYTE, i, (byte) rnd.nextInt(256));
                assertSameDecode(type, seg, 3, n);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(names = {"F32", "F16", "BF16", "Q8_0", "Q4_0"})
    void fastDecoderEqualsCodecOnEncodedRowsWithSpecialValues(GgmlType type) {
        SplittableRandom rnd = new SplittableRandom(42);
        int n = 32 * 9;
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) rnd.nextGaussian() * (float) Math.pow(10, rnd.nextInt(-6, 6));
        // subnormals, zeros, infinities and NaN (quantized types: only in float rows; a NaN would poison a block)
        v[0] = Float.MIN_VALUE;
        v[1] = -0f;
        v[2] = 1e-40f;
        if (!type.quantized()) {
            v[3] = Float.POSITIVE_INFINITY;
            v[4] = Float.NaN;
            v[5] = Float.NEGATIVE_INFINITY;
        }
        for (int b = 40; b < 72; b++) v[b] = 0f; // an all-zero block
        BlockCodec codec = BlockCodec.of(type);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(type.rowBytes(n));
            codec.encodeRow(v, 0, n, null, seg, 0);
            assertSameDecode(type, seg, 0, n);
        }
    }

    private static void assertSameDecode(GgmlType type, MemorySegment seg, long off, int n) {
        float[] ref = new float[n + 5];
        float[] fast = new float[n + 5];
        RowDecoders.scalar(type).decode(seg, off, ref, 5, n);
        RowDecoders.fast(type).decode(seg, off, fast, 5, n);
        for (int i = 0; i < n + 5; i++) {
            // every NaN counts as equal (payloads are not part of the contract); all other bits must match
            if (Float.isNaN(ref[i])) assertThat(fast[i]).as("%s element %d", type, i).isNaN();
            else assertThat(Float.floatToRawIntBits(fast[i])).as("%s element %d of %d", type, i, n).isEqualTo(Float.floatToRawIntBits(ref[i]));
        }
    }
}
