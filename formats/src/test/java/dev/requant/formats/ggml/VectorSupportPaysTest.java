package dev.requant.formats.ggml;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/**
 * The rule by which a JVM started without the Vector API module hands a quantization over to one with it
 * ({@link VectorSupport#pays}): the same threshold as the cold-start warm-up, Q4_0/Q8_0 from their measured crossover,
 * never for types whose vector encoders do not pay.
 */
class VectorSupportPaysTest {
    @Test
    void followsTheColdStartWarmUpThreshold() {
        for (GgmlType type : ColdStartCodec.SCALAR_NANOS_PER_WEIGHT.keySet()) {
            for (boolean weighted : new boolean[] {false, true}) {
                long worth = ColdStartCodec.worthWeights(type, weighted);
                assertThat(VectorSupport.pays(type, weighted, worth)).as("%s %s at the threshold", type, weighted).isTrue();
                assertThat(VectorSupport.pays(type, weighted, worth - 1)).as("%s %s below it", type, weighted).isFalse();
            }
        }
    }

    @Test
    void aSmallModelsCheapTypesStayScalarAndTheIqSearchesDoNot() {
        long small = 127_000_000L; // bench-127m: the cheap types' work is less than the module costs
        for (GgmlType t : new GgmlType[] {GgmlType.TQ1_0, GgmlType.TQ2_0, GgmlType.Q2_0, GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q6_K}) {
            assertThat(VectorSupport.pays(t, false, small)).as("%s", t).isFalse();
        }
        assertThat(VectorSupport.pays(GgmlType.IQ4_XS, true, small)).isTrue();
        assertThat(VectorSupport.pays(GgmlType.IQ3_S, true, small)).isTrue();
        assertThat(VectorSupport.pays(GgmlType.Q6_K, false, 8_000_000_000L)).isTrue(); // a 31B model's tensors
    }

    @Test
    void q4AndQ8FromTheirCrossoverOnly() {
        for (GgmlType t : new GgmlType[] {GgmlType.Q4_0, GgmlType.Q8_0}) {
            assertThat(VectorSupport.pays(t, false, VectorSupport.Q4_Q8_WORTH_WEIGHTS - 1)).isFalse();
            assertThat(VectorSupport.pays(t, false, VectorSupport.Q4_Q8_WORTH_WEIGHTS)).isTrue();
        }
    }

    @Test
    void neverForTypesWithoutAPayingVectorEncoder() {
        for (GgmlType t : new GgmlType[] {GgmlType.F16, GgmlType.BF16, GgmlType.F32, GgmlType.Q5_0, GgmlType.Q4_1, GgmlType.IQ2_XXS,
                GgmlType.IQ1_S, GgmlType.Q1_0}) {
            assertThat(VectorSupport.pays(t, true, Long.MAX_VALUE / 2)).as("%s", t).isFalse();
        }
    }
}
