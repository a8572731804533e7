package dev.requant.formats.ggml;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** The Vector API decode of the IQ codecs against their scalar reference: identical float bits from arbitrary bytes. */
class VectorIqCodecsTest {

    @ParameterizedTest
    @EnumSource(value = GgmlType.class, names = {"IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS", "IQ3_S", "IQ1_S", "IQ1_M"})
    void fastDecodeGivesTheReferenceFloats(GgmlType type) {
        BlockCodec fast = BlockCodec.of(type), ref = BlockCodec.reference(type);
        assertThat(fast.getClass().getEnclosingClass()).isEqualTo(VectorIqCodecs.class);
        assertThat(ref.getClass().getEnclosingClass()).isNull();
        SplittableRandom r = new SplittableRandom(type.id());
        for (int blocks : new int[] {1, 2, 5, 17}) {
            int n = blocks * 256;
            byte[] b = new byte[(int) type.rowBytes(n) + 7];
            for (int rep = 0; rep < 20; rep++) {
                for (int i = 0; i < b.length; i++) b[i] = (byte) r.nextInt(256);
                if (rep % 2 == 0) { // finite scales too, so that most values are ordinary numbers
                    for (int blk = 0; blk < blocks; blk++) {
                        int at = 7 + blk * type.typeSize() + (type == GgmlType.IQ1_M ? 55 : 1);
                        b[at] &= 0x3B;
                    }
                }
                float[] got = new float[n + 3], want = new float[n + 3];
                fast.decode(MemorySegment.ofArray(b), 7, got, 3, n);
                ref.decode(MemorySegment.ofArray(b), 7, want, 3, n);
                for (int i = 0; i < got.length; i++) {
                    assertThat(Float.floatToRawIntBits(got[i])).as("%s element %d: %s vs %s", type, i, got[i], want[i])
                            .isEqualTo(Float.floatToRawIntBits(want[i]));
                }
            }
        }
    }
}
