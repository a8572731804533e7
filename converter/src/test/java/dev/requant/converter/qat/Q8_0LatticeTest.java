package dev.requant.converter.qat;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.formats.ggml.BFloat16;
import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.ggml.Float16;
import dev.requant.formats.ggml.GgmlType;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Q8_0 lattice recovery: blocks stored as round(q*d) (8-bit QAT, absmax/127 scales in F16) are found exactly and
 * encoded with codes that give back every stored value; blocks off any lattice get llama.cpp's Q8_0 bytes.
 */
class Q8_0LatticeTest {
    /** A block as 8-bit QAT stores it: F16 scale d, codes in -127..127 with one at +-127, values round(q*d). */
    static float[] latticeBlock(SplittableRandom r, StoredPrecision p, int[] codesOut, float[] scaleOut) {
        float d = Float16.round((float) (1e-4 + r.nextDouble() * 4e-3));
        float[] x = new float[32];
        int extreme = r.nextInt(32);
        for (int i = 0; i < 32; i++) {
            int q = i == extreme ? (r.nextBoolean() ? 127 : -127) : r.nextInt(-127, 128);
            if (codesOut != null) codesOut[i] = q;
            x[i] = p.round(q * d);
        }
        if (scaleOut != null) scaleOut[0] = d;
        return x;
    }

    @ParameterizedTest
    @EnumSource(StoredPrecision.class)
    void recoversEveryLatticeBlock(StoredPrecision p) {
        SplittableRandom r = new SplittableRandom(11);
        Q8_0Lattice l = new Q8_0Lattice(p);
        MemorySegment out = MemorySegment.ofArray(new byte[Q8_0Lattice.BLOCK_BYTES]);
        float[] back = new float[32];
        for (int b = 0; b < 20_000; b++) {
            float[] x = latticeBlock(r, p, null, null);
            assertThat(l.solve(x, 0)).as("block %d", b).isTrue();
            assertThat(l.rule()).isEqualTo(LatticeRule.ABSMAX_OVER_127);
            l.writeBlock(out, 0);
            BlockCodec.of(GgmlType.Q8_0).decode(out, 0, back, 0, 32);
            for (int i = 0; i < 32; i++) assertThat(p.round(back[i])).isEqualTo(x[i]);
        }
    }

    @Test
    void keepsTheTrainedCodesAndScaleWhereLlamaCppsEncoderDoesNot() {
        // llama.cpp's Q8_0 takes d = fp16(amax/127) from the rounded extreme: for BF16-stored blocks that is often another
        // scale than the trained one, and the dequantized values then miss the stored bits; the lattice keeps them
        SplittableRandom r = new SplittableRandom(5);
        Q8_0Lattice l = new Q8_0Lattice(StoredPrecision.BF16);
        MemorySegment ref = MemorySegment.ofArray(new byte[34]);
        float[] back = new float[32];
        int referenceMisses = 0;
        for (int b = 0; b < 2000; b++) {
            int[] codes = new int[32];
            float[] scale = new float[1];
            float[] x = latticeBlock(r, StoredPrecision.BF16, codes, scale);
            assertThat(l.solve(x, 0)).isTrue();
            BlockCodec.of(GgmlType.Q8_0).encodeRow(x, 0, 32, null, ref, 0);
            BlockCodec.of(GgmlType.Q8_0).decode(ref, 0, back, 0, 32);
            boolean refExact = true;
            for (int i = 0; i < 32; i++) refExact &= BFloat16.round(back[i]) == x[i];
            if (!refExact) referenceMisses++;
        }
        assertThat(referenceMisses).as("blocks llama.cpp's encoder does not reproduce").isGreaterThan(0);
    }

    @Test
    void blocksOffTheLatticeGetLlamaCppsBytes() {
        SplittableRandom r = new SplittableRandom(3);
        Q8_0Lattice l = new Q8_0Lattice(StoredPrecision.BF16);
        MemorySegment mine = MemorySegment.ofArray(new byte[34]);
        MemorySegment ref = MemorySegment.ofArray(new byte[34]);
        int inexact = 0;
        for (int b = 0; b < 2000; b++) {
            float[] x = new float[32];
            for (int i = 0; i < 32; i++) x[i] = BFloat16.round((float) r.nextGaussian() * 0.02f);
            if (l.solve(x, 0)) continue;
            inexact++;
            assertThat(l.maxAbsError()).isGreaterThan(0);
            l.writeBlock(mine, 0);
            BlockCodec.of(GgmlType.Q8_0).encodeRow(x, 0, 32, null, ref, 0);
            assertThat(mine.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE)).isEqualTo(ref.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE));
        }
        assertThat(inexact).as("Gaussian bf16 blocks are almost never on a Q8_0 lattice").isGreaterThan(1900);
        // an all-zero block is exact with scale 0
        assertThat(l.solve(new float[32], 0)).isTrue();
        assertThat(l.rule()).isEqualTo(LatticeRule.ZERO);
    }

    @Test
    void codecCountsWhatItKeptAndStatsNameTheRule() {
        SplittableRandom r = new SplittableRandom(9);
        LatticeQ8_0Codec codec = new LatticeQ8_0Codec(StoredPrecision.BF16);
        float[] row = new float[32 * 64];
        for (int b = 0; b < 64; b++) System.arraycopy(latticeBlock(r, StoredPrecision.BF16, null, null), 0, row, 32 * b, 32);
        MemorySegment out = MemorySegment.ofArray(new byte[34 * 64]);
        codec.encodeRow(row, 0, row.length, null, out, 0);
        LatticeStats s = codec.stats();
        assertThat(s.blocks()).isEqualTo(64);
        assertThat(s.exactFraction()).isEqualTo(1.0);
        assertThat(s.aligned()).isTrue();
        assertThat(s.dominantRule()).isEqualTo(LatticeRule.ABSMAX_OVER_127);
    }
}
