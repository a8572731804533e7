package dev.requant.formats.ggml;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.foreign.MemorySegment;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;

/**
 * The test vectors of docs/llamacpp-formats.md 3.10, produced by compiling ggml-quants.c on x86-64:
 * x[i] = ((i*37) % 101 - 50) * 0.01f for one row of 256, importance w[i] = 1 + (i % 7) * 0.25. Every encoder is
 * checked twice: the scalar reference and whatever {@link BlockCodec#of} hands out (the vectorized one if enabled).
 */
class ReferenceVectorsTest {
    static float[] row() {
        float[] x = new float[256];
        for (int i = 0; i < 256; i++) x[i] = (float) (((i * 37) % 101) - 50) * 0.01f;
        return x;
    }

    static float[] importance() {
        float[] w = new float[256];
        for (int i = 0; i < 256; i++) w[i] = 1.0f + (float) (i % 7) * 0.25f;
        return w;
    }

    static String encode(BlockCodec c, float[] x, float[] importance) {
        byte[] out = new byte[(int) c.rowBytes(x.length)];
        c.encodeRow(x, 0, x.length, importance, MemorySegment.ofArray(out), 0);
        return HexFormat.of().formatHex(out);
    }

    static void assertVector(GgmlType t, float[] importance, String hex) {
        assertThat(encode(BlockCodec.reference(t), row(), importance)).as(t + " reference codec").isEqualTo(hex);
        assertThat(encode(BlockCodec.of(t), row(), importance)).as(t + " codec of()").isEqualTo(hex);
    }

    @Test
    void q4_0Reference() {
        assertVector(GgmlType.Q4_0, null,
                "002ce046acf258bd1379df358be046acf268d7ab740fb953fd9731eb852fca640ea842fdd72b57bd0379df248ae046ac"
              + "f258be1379df002c0369cf248ae046acf258bd1379df358b00ac42ec8620ca741fb953fd9731eb852fcad7ab8620da74"
              + "1fb953fd9731ec862fca640e002c359bf157bd0369cf248ae046acf258bd00ac1fb953fda842ec8620ca741fb953fd97");
    }

    @Test
    void q4_0Imatrix() {
        assertVector(GgmlType.Q4_0, importance(),
                "792cd1469bf268bd2479ce358ae157acf3685cac751eb953fd9742db862fca641ea853ec4a2c57bd1379ce358ae146ac"
              + "f268bd2479df152c1369ce248ae046acf258bd1379df358b1cac42ec8620ca741eb953fd9731db862fca4dac8631ca75"
              + "1eb953fd9742db862fca641e162c359bf157bd1369ce248ae046acf258bd25ac1fb963fda842ec8620ca741eb953fd97");
    }

    @Test
    void q8_0IgnoresImportance() {
        String hex = "081c81df3d9af856b41270cd2b89e745a2005ebb1977d53390ee4caa0866c3217fdce71b3c96f656b0106fca2984e343"
              + "9efd5db71777d1318beb4ba50565bf1f7fd93993e71bf353ad0d6dc72781e1419bfb5bb51575cf2f89e949a30362bd1d"
              + "7cd73691f050081cac0a68c62481df3d9af856b41270cd2b89e745a2005ebb1977d53390ee4caa08081c66c3217fdc3a"
              + "98f654b10f6dcb2986e4429ffd5bb91775d2308eec4aa70563c0e71b1f7fd93993f353ad0d6dc72781e1419bfb5bb515"
              + "75cf2f89e949a30362bd1d7c081cd73593f14fac0a68c62481df3d9af856b41270cd2b89e745a2005ebb1977d533081c"
              + "90ee4caa0866c3217fdc3a98f654b10f6dcb2986e4429ffd5bb91775d2308eec";
        assertVector(GgmlType.Q8_0, null, hex);
        assertVector(GgmlType.Q8_0, importance(), hex);
    }

    @Test
    void q4_KReference() {
        assertVector(GgmlType.Q4_K, null,
                "6514e61ffefffffcfffdfefecfdcfffea0156bc1278cd3489e045ab0167bc2378de349ae056ab1267cd2389de459af15"
              + "268ce248ad0459b0157bd1379ce348ae046ac0267bd2379df359be156ac1268c9df359be157ac1268ce248ad0459b015"
              + "7bd1379ce348ae046ac0267bd2379df3156ac1268cd2489df459b0157bc1378ce348ae046ab0267bd2379de359ae156a");
    }

    @Test
    void q4_KImatrix() {
        assertVector(GgmlType.Q4_K, importance(),
                "5b140d20fffcfcfffdfcfbfd9ccffcbbb0157bd1378ce348ae046ac0167bd2379df359ae056ac1268ce2489df459bf15"
              + "278cd2489e045ab0157bc1378de349ae046ab0267cd2379de359af156bc1268c9de359af156bc1268cd2489e045ab015"
              + "7bc1378de348ae046ab0267cd2379de3056bc1278de348aef45ab0167cd2278de349af056ac0167cd2389ef459af056b");
    }

    @Test
    void q6_KReference() {
        assertVector(GgmlType.Q6_K, null,
                "d158bf37be25ad048b047bf37ad159d0c941ea63eb74fb741d951ea72fc841c9bf35ad169b048df26be069d147cf38bd"
              + "1a922c840d85ed77ff57d038b04aa22b67df58c139b22aa22b931c85fd76ee57ce5ad137b31a902c830f86ec78ff55d1"
              + "c841da62eb63fc840d951ea63fb840c9d129b30b931c74fe86de67ff47d129b118b1c66cb11b6c861b71c61cb1c76cb2"
              + "2453f9248ef9138ef4538d2452f9248ed4a209d47e09a37e14a349d4ae09d77ec863be1463c9147ec923bec463bd1463"
              + "807f897a867a84877f737d7a81877c892288");
    }

    @Test
    void q6_KImatrix() {
        assertVector(GgmlType.Q6_K, importance(),
                "d158bf37be25ad048b047bf37ad159d0c941ea63eb73fc741d951ea72fc841c9bf35ad169b048df26be069d147cf38bd"
              + "1a922c740d95ed77ff57d038b04a922b67df58c139b23aa32b931c85fd76ee57ce5ad137b31a902c830f85ec78ff55d1"
              + "c841da62eb63fc840d951ea63fb840c9d129b30b931c74fe86de67ff47d129b118b1c66cb11b6c861b71c61cb1c76cb2"
              + "2453f9248ef9138ef4538d2452f9248ed4a209d47e09a37e14a349d4ae09d77ec863be1463c9147ec923bec463bd1463"
              + "807f897a857a84897f747d7b81877c891f88");
    }

    @Test
    void mxfp4IgnoresImportance() {
        String hex = "7c5eca246db035ec9146db035eca246da07b367fd957feb267fd157fec467fc067fe7bda57ffb267fe047fec467fd957"
              + "fea3677ceda145dc025eca246db035ec9146db037c45dc0256ca146db935ec9145db035eca7b9477ec367fda57ffb267"
              + "fe047fec467f7ccb136db934eda145dc025eca246db0357c5eb934eda045dc0256ca146db935ec91";
        assertVector(GgmlType.MXFP4, null, hex);
        assertVector(GgmlType.MXFP4, importance(), hex);
    }

    @Test
    void nvfp4IgnoresImportance() {
        String hex = "1b1b1a1a7fcb45fea956ed0256ed1267dc347fba45ffb956ee0267ed1267dc347fca56fe1a1a1b1ab956ee9167ed247f"
              + "dc347fca56fea066ee9166dd237fcb457fcb55fea066ed131b1a1a1a66ed1377cb45feb945fea066ee1267dc1377dc45"
              + "ffb956eea966ee0267dc347f1b1a1b1adc34ffb956ee9166ee0267dd347fcb557fba55ee9166ed1367ed247fcb45fea0";
        assertVector(GgmlType.NVFP4, null, hex);
        assertVector(GgmlType.NVFP4, importance(), hex);
    }

    @Test
    void zeroBlockOfTheReferencePathHasNegativeZeroScale() {
        assertThat(encode(BlockCodec.reference(GgmlType.Q4_0), new float[32], null)).isEqualTo("0080" + "88".repeat(16));
        assertThat(encode(BlockCodec.of(GgmlType.Q4_0), new float[32], null)).isEqualTo("0080" + "88".repeat(16));
    }

    @Test
    void zeroBlockOfTheImatrixPathIsAllZero() {
        float[] ones = new float[32];
        java.util.Arrays.fill(ones, 1f);
        assertThat(encode(BlockCodec.of(GgmlType.Q4_0), new float[32], ones)).isEqualTo("00".repeat(18));
    }
}
