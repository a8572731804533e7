package dev.requant.formats.ggml;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The codec that stands in for a cold Vector API encoder: its bytes are the reference's before the switch (scalar)
 * and after it (vector), with and without importance; it wraps only {@link BlockCodec#of}'s vector encoders; and a
 * plan's announced work starts the warm-up only where the vector encoder saves what {@link ColdStartCodec#WORTH_NANOS} says.
 */
class ColdStartCodecTest {
    static final int N = 2048;

    @ParameterizedTest
    @EnumSource(names = {"Q2_0", "TQ1_0", "TQ2_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "IQ4_XS", "IQ3_S", "IQ3_XXS"})
    void givesTheReferenceBytesColdAndWarm(GgmlType type) {
        Assumptions.assumeTrue(VectorSupport.enabled(), "Vector API disabled: BlockCodec.of is the reference");
        assertThat(ColdStartCodec.SCALAR_NANOS_PER_WEIGHT).containsKey(type);
        BlockCodec reference = BlockCodec.reference(type);
        SplittableRandom r = new SplittableRandom(type.ordinal());
        for (boolean weighted : new boolean[] {false, true}) {
            // a kernel of its own, so that no warm-up thread runs and the test decides when it is warm
            ColdStartCodec.Kernel k = new ColdStartCodec.Kernel(type, weighted, BlockCodec.of(type), reference);
            ColdStartCodec codec = new ColdStartCodec(k);
            for (int round = 0; round < 2; round++) {
                for (int row = 0; row < 8; row++) {
                    float[] x = VectorLowBitCodecsTest.awkward(r, N, row % 4 == 3);
                    float[] w = weighted ? importance(r) : null;
                    assertThat(encode(codec, x, w)).as("%s %s weighted=%s row %d", type, k.warm() ? "warm" : "cold", weighted, row)
                            .isEqualTo(encode(reference, x, w));
                }
                k.markWarm();
            }
        }
    }

    @Test
    void wrapsOnlyTheVectorEncodersOfBlockCodecOf() {
        assertThat(ColdStartCodec.kernel(BlockCodec.reference(GgmlType.Q6_K), false)).as("the reference itself").isNull();
        assertThat(ColdStartCodec.kernel(BlockCodec.of(GgmlType.Q8_0), false)).as("not in the table").isNull();
        assertThat(ColdStartCodec.kernel(BlockCodec.of(GgmlType.Q1_0), false)).as("Q1_0 has no vector encoder").isNull();
        assertThat(ColdStartCodec.forTensor(BlockCodec.of(GgmlType.IQ2_XS), true)).isSameAs(BlockCodec.of(GgmlType.IQ2_XS));
    }

    @Test
    void announcedWorkStartsTheWarmUpOnlyWhereItPays() {
        Assumptions.assumeTrue(VectorSupport.enabled());
        GgmlType type = GgmlType.Q6_K;
        long worth = ColdStartCodec.worthWeights(type, false);
        ColdStartCodec.Kernel k = new ColdStartCodec.Kernel(type, false, BlockCodec.of(type), BlockCodec.reference(type));
        k.expect(worth / 2);
        k.used();
        assertThat(k.started()).as("half the work that pays, announced: stays scalar").isFalse();
        k.expect(worth / 2 + 1);
        assertThat(k.started()).as("announcements add up").isTrue();

        ColdStartCodec.Kernel unannounced = new ColdStartCodec.Kernel(type, true, BlockCodec.of(type), BlockCodec.reference(type));
        unannounced.markWarm(); // nothing to warm: used() must not start a thread
        unannounced.used();
        assertThat(unannounced.started()).isFalse();
    }

    @Test
    void importanceWeightedWorkIsPricedAtItsOwnCost() {
        Assumptions.assumeTrue(VectorSupport.enabled());
        GgmlType type = GgmlType.Q2_K; // the imatrix search tries 37 scales, the plain one 16
        assertThat(ColdStartCodec.scalarNanos(type, true)).isGreaterThan(ColdStartCodec.scalarNanos(type, false));
        long weights = ColdStartCodec.worthWeights(type, true);
        ColdStartCodec.Kernel plain = new ColdStartCodec.Kernel(type, false, BlockCodec.of(type), BlockCodec.reference(type));
        ColdStartCodec.Kernel weighted = new ColdStartCodec.Kernel(type, true, BlockCodec.of(type), BlockCodec.reference(type));
        plain.expect(weights);
        weighted.expect(weights);
        assertThat(plain.started()).as("plain: not worth it yet").isFalse();
        assertThat(weighted.started()).as("weighted: worth it").isTrue();
        assertThat(ColdStartCodec.scalarNanos(GgmlType.IQ4_XS, true)).as("no weighted entry: the plain cost")
                .isEqualTo(ColdStartCodec.scalarNanos(GgmlType.IQ4_XS, false));
    }

    @Test
    void aKernelCloseToItsScalarCodecCountsAsCompiledWhenItBeatsIt() {
        assertThat(ColdStartCodec.speedUp(GgmlType.IQ4_XS, false)).isEqualTo(ColdStartCodec.SPEED_UP);
        // the usual rule where the kernel takes a fifth of the scalar time: 2 s of scalar work
        assertThat(ColdStartCodec.worthWeights(GgmlType.IQ4_XS, false))
                .isCloseTo((long) (ColdStartCodec.WORTH_NANOS / ColdStartCodec.scalarNanos(GgmlType.IQ4_XS, false)), org.assertj.core.data.Offset.offset(2L));
        for (boolean weighted : new boolean[] {false, true}) {
            double share = ColdStartCodec.vectorNanos(GgmlType.Q2_K, weighted) / ColdStartCodec.scalarNanos(GgmlType.Q2_K, weighted);
            // Q2_K's kernel takes about 60% of the scalar time: the usual "half" would never see it compiled
            assertThat(share).isGreaterThan(ColdStartCodec.SPEED_UP);
            assertThat(ColdStartCodec.speedUp(GgmlType.Q2_K, weighted)).isGreaterThan(share).isLessThan(1.0);
        }
    }

    private static float[] importance(SplittableRandom r) {
        float[] w = new float[N];
        for (int i = 0; i < N; i++) w[i] = i % 97 == 0 ? 0f : (float) Math.exp(r.nextGaussian());
        return w;
    }

    private static byte[] encode(BlockCodec c, float[] x, float[] w) {
        byte[] out = new byte[(int) c.type().rowBytes(N)];
        c.encodeRow(x, 0, N, w, MemorySegment.ofArray(out), 0);
        return out;
    }
}
