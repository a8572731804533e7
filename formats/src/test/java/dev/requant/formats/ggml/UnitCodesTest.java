package dev.requant.formats.ggml;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The row encoders of Q2_0, TQ1_0 and TQ2_0 ({@link UnitCodes} for blocks of finite values) give the bytes of their
 * block transliterations, block for block, on rows built to sit on the roundings' edges: values at and next to
 * +-amax/2, zeros of both signs, all-zero blocks, the smallest normal and subnormal largest magnitudes (1/amax
 * overflows for the latter), Inf and NaN, in blocks side by side with ordinary ones and across runs of blocks.
 */
class UnitCodesTest {
    static UnitCodes.Transliteration transliteration(GgmlType type) {
        return switch (type) {
            case Q2_0 -> Q2_0Codec::encodeBlock;
            case TQ1_0 -> TQ1_0Codec::encodeBlock;
            case TQ2_0 -> TQ2_0Codec::encodeBlock;
            default -> throw new IllegalArgumentException(type.ggmlName());
        };
    }

    /** One block of the kind {@code kind}, scaled by {@code scale}. */
    static void fill(float[] x, int o, int n, int kind, float scale, SplittableRandom r) {
        for (int j = 0; j < n; j++) x[o + j] = (float) (r.nextGaussian() * scale);
        float amax = 0;
        for (int j = 0; j < n; j++) amax = Math.max(amax, Math.abs(x[o + j]));
        switch (kind) {
            case 0 -> {} // ordinary
            case 1 -> { // ties: exactly half the largest magnitude, and its float neighbours
                for (int j = 1; j < n; j += 3) {
                    float h = amax / 2;
                    x[o + j] = switch (j % 4) {
                        case 0 -> h;
                        case 1 -> -h;
                        case 2 -> Math.nextUp(h);
                        default -> -Math.nextDown(h);
                    };
                }
            }
            case 2 -> { for (int j = 0; j < n; j++) x[o + j] = (j & 1) == 0 ? 0.0f : -0.0f; }
            case 3 -> { for (int j = 0; j < n; j++) x[o + j] *= Float.MIN_NORMAL / amax; } // 1/amax still finite
            case 4 -> { for (int j = 0; j < n; j++) x[o + j] = Float.MIN_VALUE * (j % 5 - 2); } // 1/amax overflows
            case 5 -> x[o + r.nextInt(n)] = Float.NaN;
            case 6 -> x[o + r.nextInt(n)] = r.nextBoolean() ? Float.POSITIVE_INFINITY : Float.NEGATIVE_INFINITY;
            case 7 -> { for (int j = 0; j < n; j++) x[o + j] = amax * (j % 3 - 1); } // exact codes -1, 0, 1
            default -> throw new IllegalArgumentException("kind " + kind);
        }
    }

    @ParameterizedTest
    @EnumSource(value = GgmlType.class, names = {"Q2_0", "TQ1_0", "TQ2_0"})
    void rowEncoderGivesTheTransliterationsBytes(GgmlType type) {
        BlockCodec codec = BlockCodec.reference(type);
        UnitCodes.Transliteration block = transliteration(type);
        int qk = type.blockSize();
        int blockBytes = (int) type.rowBytes(qk);
        SplittableRandom r = new SplittableRandom(23);
        int differences = 0, fallbacks = 0;
        for (int row = 0; row < 200; row++) {
            int blocks = 1 + r.nextInt(row < 100 ? 8 : 150); // past the row encoders' runs of 32 and 64 blocks
            int n = blocks * qk, xo = r.nextInt(3);
            float[] x = new float[xo + n];
            for (int b = 0; b < blocks; b++) {
                int kind = r.nextInt(4) == 0 ? r.nextInt(8) : 0;
                if (kind >= 4 && kind <= 6) fallbacks++;
                fill(x, xo + b * qk, qk, kind, (float) Math.exp(r.nextGaussian() * 4), r);
            }
            MemorySegment got = MemorySegment.ofArray(new byte[blocks * blockBytes]);
            MemorySegment want = MemorySegment.ofArray(new byte[blocks * blockBytes]);
            codec.encodeRow(x, xo, n, null, got, 0);
            for (int b = 0; b < blocks; b++) block.encode(x, xo + b * qk, want, (long) b * blockBytes);
            if (got.mismatch(want) >= 0) differences++;
        }
        assertThat(differences).isZero();
        assertThat(fallbacks).isGreaterThan(50); // the transliteration's blocks were among them
    }

    @org.junit.jupiter.api.Test
    void finiteLargestIsTheReferencesScanOrNaN() {
        assertThat(UnitCodes.finiteLargest(new float[] {0.5f, -3f, 2f}, 0, 3)).isEqualTo(3f);
        assertThat(UnitCodes.finiteLargest(new float[] {-0.0f, 0.0f}, 0, 2)).isEqualTo(0f);
        assertThat(UnitCodes.finiteLargest(new float[] {1f, Float.NaN}, 0, 2)).isNaN();
        assertThat(UnitCodes.finiteLargest(new float[] {Float.NEGATIVE_INFINITY, 1f}, 0, 2)).isNaN();
        assertThat(UnitCodes.finiteLargest(new float[] {Float.MIN_VALUE}, 0, 1)).isNaN(); // 1/amax = Inf
        assertThat(UnitCodes.finiteLargest(new float[] {Float.MIN_NORMAL}, 0, 1)).isEqualTo(Float.MIN_NORMAL);
        assertThat(UnitCodes.finiteLargest(new float[] {9f, 1f, Float.NaN}, 1, 1)).isEqualTo(1f); // only its range
    }

    @org.junit.jupiter.api.Test
    void codeRoundsHalvesAwayFromZero() {
        assertThat(UnitCodes.code(0.5f)).isEqualTo(2);
        assertThat(UnitCodes.code(Math.nextDown(0.5f))).isEqualTo(1);
        assertThat(UnitCodes.code(-0.5f)).isEqualTo(0);
        assertThat(UnitCodes.code(Math.nextUp(-0.5f))).isEqualTo(1);
        assertThat(UnitCodes.code(-0.0f)).isEqualTo(1);
        assertThat(UnitCodes.code(Math.nextUp(1f))).isEqualTo(2);
        assertThat(UnitCodes.code(-1f)).isEqualTo(0);
    }
}
