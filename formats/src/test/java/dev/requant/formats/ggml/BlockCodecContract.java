package dev.requant.formats.ggml;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * What every {@link BlockCodec} must do, in the manner of Lucene's BaseXXXFormatTestCase: one subclass per GGML type
 * says only which type and how much error the format allows. Every test runs on the scalar reference and on the codec
 * {@link BlockCodec#of} hands out (the vectorized one where there is one).
 */
abstract class BlockCodecContract {
    abstract GgmlType type();

    /** The largest |decode(encode(x)) - x| allowed, as a fraction of the largest magnitude in x's block. */
    abstract double blockRelativeError();

    /** Extra slack for the importance-weighted encoders, which trade worst-case error for weighted error. */
    double importanceSlack() { return 2.0; }

    /** Absolute slack for values too small for the format's scale (fp16 scales underflow near 6e-8). */
    double absoluteError() { return type().isFloat() ? 0 : 1e-6; }

    final List<BlockCodec> codecs() {
        BlockCodec ref = BlockCodec.reference(type());
        BlockCodec of = BlockCodec.of(type());
        return ref == of ? List.of(ref) : List.of(ref, of);
    }

    final int blockSize() { return type().blockSize(); }

    /** Whether ggml's quantizer for this type needs an imatrix (ggml_quantize_requires_imatrix). */
    final boolean requiresImportance() {
        return type() == GgmlType.IQ2_XXS || type() == GgmlType.IQ2_XS || type() == GgmlType.IQ1_S;
    }

    /** The importance vectors a test encodes with: none and {@code w}, or only {@code w} where one is required. */
    final List<float[]> noneAnd(float[] w) {
        return requiresImportance() ? List.of(w) : Arrays.asList(null, w);
    }

    /** A row whose length is a whole number of blocks and at least 256 (a K-quant super-block). */
    final int rowLength(int blocks) { return blocks * blockSize(); }

    static float[] weights(SplittableRandom r, int n, double std) {
        float[] x = new float[n];
        double rowScale = std * (0.5 + r.nextDouble());
        for (int i = 0; i < n; i++) {
            double g = r.nextGaussian() * rowScale;
            if (r.nextInt(200) == 0) g *= 8; // outliers, as real weights have
            x[i] = (float) g;
        }
        return x;
    }

    static float[] importance(SplittableRandom r, int n) {
        float[] w = new float[n];
        for (int i = 0; i < n; i++) w[i] = (float) Math.exp(r.nextGaussian());
        return w;
    }

    byte[] encode(BlockCodec c, float[] x, int off, int n, float[] w) {
        byte[] out = new byte[(int) c.rowBytes(n)];
        c.encodeRow(x, off, n, w, MemorySegment.ofArray(out), 0);
        return out;
    }

    float[] decode(BlockCodec c, byte[] b, int n) {
        float[] y = new float[n];
        c.decode(MemorySegment.ofArray(b), 0, y, 0, n);
        return y;
    }

    void assertWithinBound(float[] x, float[] y, double factor) {
        int bs = blockSize() == 1 ? 1 : blockSize();
        for (int b = 0; b < x.length / bs; b++) {
            double amax = 0;
            for (int j = 0; j < bs; j++) amax = Math.max(amax, Math.abs(x[b * bs + j]));
            for (int j = 0; j < bs; j++) {
                int i = b * bs + j;
                double err = Math.abs((double) y[i] - x[i]);
                assertThat(err).as("%s element %d of %s: x=%s y=%s", type(), i, Arrays.toString(Arrays.copyOfRange(x, b * bs, b * bs + bs)), x[i], y[i])
                        .isLessThanOrEqualTo(factor * amax + absoluteError());
            }
        }
    }

    @Test
    void roundTripStaysWithinTheFormatsErrorBound() {
        SplittableRandom r = new SplittableRandom(type().id());
        int n = rowLength(Math.max(8, 512 / blockSize()));
        for (BlockCodec c : codecs()) {
            for (int row = 0; row < 20; row++) {
                float[] x = weights(r, n, row % 2 == 0 ? 0.02 : 3.0);
                if (!requiresImportance()) assertWithinBound(x, decode(c, encode(c, x, 0, n, null), n), blockRelativeError());
                float[] w = importance(r, n);
                assertWithinBound(x, decode(c, encode(c, x, 0, n, w), n), blockRelativeError() * importanceSlack());
            }
        }
    }

    @Test
    void rowsAreWholeBlocks() {
        for (int k = 1; k <= 3; k++) assertThat(BlockCodec.of(type()).rowBytes(rowLength(k))).isEqualTo((long) k * type().typeSize());
        if (blockSize() > 1) {
            assertThatThrownBy(() -> BlockCodec.of(type()).rowBytes(blockSize() + 1))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("block size");
        }
    }

    @Test
    void oddBlockCountsAndOffsetsTouchOnlyTheirBytes() {
        SplittableRandom r = new SplittableRandom(7);
        for (BlockCodec c : codecs()) {
            for (int blocks = 1; blocks <= 7; blocks += 2) {
                int n = rowLength(blocks);
                float[] x = weights(r, n + 11, 1.0);
                for (float[] w : noneAnd(importance(r, n))) {
                    byte[] plain = encode(c, x, 7, n, w);
                    byte[] big = new byte[plain.length + 9];
                    Arrays.fill(big, (byte) 0x5A);
                    c.encodeRow(x, 7, n, w, MemorySegment.ofArray(big), 5);
                    assertThat(Arrays.copyOfRange(big, 5, 5 + plain.length)).isEqualTo(plain);
                    for (int i : new int[] {0, 1, 2, 3, 4, big.length - 4, big.length - 1}) assertThat(big[i]).isEqualTo((byte) 0x5A);
                    float[] y = new float[n + 6];
                    Arrays.fill(y, 42f);
                    c.decode(MemorySegment.ofArray(big), 5, y, 3, n);
                    assertThat(Arrays.copyOfRange(y, 3, 3 + n)).isEqualTo(decode(c, plain, n));
                    assertThat(y[0]).isEqualTo(42f);
                    assertThat(y[n + 5]).isEqualTo(42f);
                }
            }
        }
    }

    @Test
    void referenceEncodingIsBlockwise() {
        SplittableRandom r = new SplittableRandom(11);
        int n = rowLength(5);
        float[] x = weights(r, n, 0.05);
        float[] w = requiresImportance() ? importance(r, n) : null;
        for (BlockCodec c : codecs()) {
            byte[] whole = encode(c, x, 0, n, w);
            int bs = blockSize(), tb = type().typeSize();
            for (int b = 0; b < 5 * (bs == 1 ? 1 : 1); b++) {
                byte[] one = encode(c, x, b * bs, bs, w == null ? null : Arrays.copyOfRange(w, b * bs, (b + 1) * bs));
                assertThat(Arrays.copyOfRange(whole, b * tb, (b + 1) * tb)).isEqualTo(one);
            }
        }
    }

    @Test
    void decodeMatchesThePlainDecoder() {
        SplittableRandom r = new SplittableRandom(13);
        int blocks = 37;
        byte[] bytes = new byte[blocks * type().typeSize()];
        for (int i = 0; i < bytes.length; i++) bytes[i] = (byte) r.nextInt(256);
        for (BlockCodec c : codecs()) {
            float[] y = decode(c, bytes, blocks * blockSize());
            for (int b = 0; b < blocks; b++) {
                float[] want = PlainDecoders.block(type(), bytes, b * type().typeSize());
                for (int j = 0; j < want.length; j++) {
                    float got = y[b * blockSize() + j];
                    if (Float.isNaN(want[j])) assertThat(got).isNaN();
                    else assertThat(Float.floatToRawIntBits(got)).as("%s block %d element %d: %s vs %s", c.getClass().getSimpleName(), b, j, got, want[j])
                            .isEqualTo(Float.floatToRawIntBits(want[j]));
                }
            }
        }
    }

    @Test
    void zerosEncodeToZeros() {
        int n = rowLength(3);
        float[] ones = new float[n];
        Arrays.fill(ones, 1f);
        for (BlockCodec c : codecs()) {
            for (float[] w : noneAnd(ones)) {
                for (float v : decode(c, encode(c, new float[n], 0, n, w), n)) assertThat(v).isZero();
            }
        }
    }

    @Test
    void subnormalInputsRoundTripWithinTheAbsoluteSlack() {
        SplittableRandom r = new SplittableRandom(17);
        int n = rowLength(Math.max(2, 256 / blockSize()));
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = Float.intBitsToFloat(r.nextInt(0x800000) | (r.nextBoolean() ? 0x80000000 : 0));
        for (BlockCodec c : codecs()) {
            for (float[] w : noneAnd(importance(r, n))) {
                float[] y = decode(c, encode(c, x, 0, n, w), n);
                for (int i = 0; i < n; i++) {
                    assertThat(Float.isFinite(y[i])).isTrue();
                    assertThat(Math.abs((double) y[i] - x[i])).isLessThanOrEqualTo(type() == GgmlType.F32 ? 0 : 1e-30 + absoluteError());
                }
            }
        }
    }

    /** Inf and NaN inputs: every codec encodes them without failing, and the fast path gives the reference's bytes. */
    @Test
    void infAndNaNInputsEncodeLikeTheReference() {
        SplittableRandom r = new SplittableRandom(19);
        int n = rowLength(Math.max(4, 256 / blockSize()));
        float[] x = weights(r, n, 1.0);
        x[1] = Float.POSITIVE_INFINITY;
        x[n / 2] = Float.NaN;
        x[n - 1] = Float.NEGATIVE_INFINITY;
        float[] w = importance(r, n);
        for (float[] imp : noneAnd(w)) {
            byte[] ref = encode(BlockCodec.reference(type()), x, 0, n, imp);
            for (BlockCodec c : codecs()) assertThat(encode(c, x, 0, n, imp)).isEqualTo(ref);
        }
        if (type().isFloat()) {
            float[] y = decode(BlockCodec.of(type()), encode(BlockCodec.of(type()), x, 0, n, null), n);
            assertThat(y[1]).isEqualTo(Float.POSITIVE_INFINITY);
            assertThat(y[n / 2]).isNaN();
        }
    }

    /** The types ggml cannot quantize without an imatrix are refused with a message naming the type; the others are not. */
    @Test
    void encodingWithoutImportanceIsRefusedOnlyWhereGgmlRequiresIt() {
        int n = rowLength(Math.max(1, 256 / blockSize()));
        float[] x = weights(new SplittableRandom(23), n, 1.0);
        for (BlockCodec c : codecs()) {
            assertThat(c.requiresImportance()).as(c.getClass().getSimpleName()).isEqualTo(requiresImportance());
            if (requiresImportance()) {
                assertThatThrownBy(() -> encode(c, x, 0, n, null)).isInstanceOf(IllegalArgumentException.class)
                        .hasMessageContaining(type().name()).hasMessageContaining("imatrix");
            } else {
                assertThat(encode(c, x, 0, n, null)).hasSize((int) c.rowBytes(n));
            }
        }
    }
}
