package dev.requant.formats.ggml;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.foreign.MemorySegment;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;

/**
 * The test vectors of docs/llamacpp-formats.md 3.10, produced by compiling ggml-quants.c on x86-64:
 * x[i] = ((i*37) % 101 - 50) * 0.01f for one row of 256.
 */
class ReferenceVectorsTest {
    static float[] row() {
        float[] x = new float[256];
        for (int i = 0; i < 256; i++) x[i] = (float) (((i * 37) % 101) - 50) * 0.01f;
        return x;
    }

    static String encode(GgmlType t, float[] x, float[] importance) {
        BlockCodec c = BlockCodec.of(t);
        byte[] out = new byte[(int) c.rowBytes(x.length)];
        c.encodeRow(x, 0, x.length, importance, MemorySegment.ofArray(out), 0);
        return HexFormat.of().formatHex(out);
    }

    @Test
    void q4_0Reference() {
        assertThat(encode(GgmlType.Q4_0, row(), null)).isEqualTo(
                "002ce046acf258bd1379df358be046acf268d7ab740fb953fd9731eb852fca640ea842fdd72b57bd0379df248ae046ac"
              + "f258be1379df002c0369cf248ae046acf258bd1379df358b00ac42ec8620ca741fb953fd9731eb852fcad7ab8620da74"
              + "1fb953fd9731ec862fca640e002c359bf157bd0369cf248ae046acf258bd00ac1fb953fda842ec8620ca741fb953fd97");
    }

    @Test
    void q8_0() {
        assertThat(encode(GgmlType.Q8_0, row(), null)).isEqualTo(
                "081c81df3d9af856b41270cd2b89e745a2005ebb1977d53390ee4caa0866c3217fdce71b3c96f656b0106fca2984e343"
              + "9efd5db71777d1318beb4ba50565bf1f7fd93993e71bf353ad0d6dc72781e1419bfb5bb51575cf2f89e949a30362bd1d"
              + "7cd73691f050081cac0a68c62481df3d9af856b41270cd2b89e745a2005ebb1977d53390ee4caa08081c66c3217fdc3a"
              + "98f654b10f6dcb2986e4429ffd5bb91775d2308eec4aa70563c0e71b1f7fd93993f353ad0d6dc72781e1419bfb5bb515"
              + "75cf2f89e949a30362bd1d7c081cd73593f14fac0a68c62481df3d9af856b41270cd2b89e745a2005ebb1977d533081c"
              + "90ee4caa0866c3217fdc3a98f654b10f6dcb2986e4429ffd5bb91775d2308eec");
    }

    @Test
    void zeroBlockOfTheReferencePathHasNegativeZeroScale() {
        assertThat(encode(GgmlType.Q4_0, new float[32], null)).isEqualTo("0080" + "88".repeat(16));
    }
}
