package dev.requant.converter.qat;

import static org.assertj.core.api.Assertions.assertThat;

import dev.requant.formats.ggml.BFloat16;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The plain-Java kernels ({@link Q4_0LatticeLanes}) against the Vector API ones ({@link Q4_0LatticeVector}), kernel by
 * kernel, on the adversarial blocks of {@link Q4_0LatticeTest} (ties, half-way values, zeros of both signs, subnormals,
 * several fitting lattices, near misses, QAT blocks of every rule) plus blocks holding NaN and infinities: every
 * output the solver reads must be the same, bit for bit. The solver over whole rows with the lanes is compared with
 * the scalar reference in {@link Q4_0LatticeWithoutVectorModuleTest} (a JVM where the lanes are the only kernels).
 */
class Q4_0LatticeLanesTest {
    static final int QK = Q4_0Lattice.QK;

    @Test
    void lanesAnswerAsTheVectorKernels() {
        assertThat(Q4_0Lattice.VECTOR).as("the test JVM has the Vector API").isTrue();
        SplittableRandom r = new SplittableRandom(1515);
        float[] x = new float[QK];
        int[] cv = new int[2], cl = new int[2];
        float[] rv = new float[QK], rl = new float[QK], codesV = new float[QK], codesL = new float[QK];
        double[] bv = new double[2], bl = new double[2];
        int[] outcomes = new int[3];
        for (int n = 0; n < 20000; n++) {
            Q4_0LatticeTest.adversarialBlock(r, n % 12, x, 0);
            if (n % 97 == 0) x[r.nextInt(QK)] = switch (n % 3) {
                case 0 -> Float.NaN;
                case 1 -> Float.POSITIVE_INFINITY;
                default -> Float.NEGATIVE_INFINITY;
            };
            String at = "block " + n;
            float av = Q4_0LatticeVector.scan(x, 0, cv), al = Q4_0LatticeLanes.scan(x, 0, cl);
            assertThat(Float.isFinite(al)).as(at).isEqualTo(Float.isFinite(av));
            assertThat(cl).as(at).containsExactly(cv);
            if (!Float.isFinite(av) || cv[0] == QK) continue;
            assertThat(Float.floatToRawIntBits(al)).as(at).isEqualTo(Float.floatToRawIntBits(av));
            int extreme = Q4_0LatticeVector.firstAt(x, 0, av);
            assertThat(Q4_0LatticeLanes.firstAt(x, 0, al)).as(at).isEqualTo(extreme);
            Q4_0LatticeVector.ratios(x, 0, 1f / av, rv);
            Q4_0LatticeLanes.ratios(x, 0, 1f / av, rl);
            assertThat(rl).as(at).containsExactly(rv);
            for (int k = 1; k <= 8; k++) {
                assertThat(Q4_0LatticeLanes.plausible(rl, k)).as("%s k %d", at, k).isEqualTo(Q4_0LatticeVector.plausible(rv, k));
                for (boolean negative : new boolean[] {false, true}) {
                    int iv = Q4_0LatticeVector.intersectBf16(x, 0, extreme, k, negative, bv);
                    int il = Q4_0LatticeLanes.intersectBf16(x, 0, extreme, k, negative, bl);
                    assertThat(il).as("%s k %d %s", at, k, negative).isEqualTo(iv);
                    if (iv != 0) assertThat(bl).as("%s k %d %s", at, k, negative).containsExactly(bv);
                    // the scales the solver verifies: the extreme over its code, its BF16 rounding and neighbours
                    float d0 = x[extreme] / ((x[extreme] < 0) == negative ? k : -k);
                    short b = BFloat16.fromFloat(d0);
                    for (float d : new float[] {d0, BFloat16.round(d0), BFloat16.toFloat((short) (b + 1)), BFloat16.toFloat((short) (b - 1))}) {
                        if (d == 0f || !Float.isFinite(d)) continue;
                        int vv = Q4_0LatticeVector.verifyBf16(x, 0, d, 1f / d, codesV), vl = Q4_0LatticeLanes.verifyBf16(x, 0, d, 1f / d, codesL);
                        // the vector kernel stops at the first vector with a difference, so -1 (zeros of the other
                        // sign only, so far) may be 0 in the lanes when a later element differs: the solver then runs
                        // the exact scalar check on -1 and fails, the same answer as on 0
                        if (vv == -1 && vl == 0) continue;
                        assertThat(vl).as("%s d %s", at, d).isEqualTo(vv);
                        outcomes[vv + 1]++;
                        if (vv == 1) assertThat(codesL).as("%s d %s", at, d).containsExactly(codesV);
                    }
                }
            }
        }
        for (int c : outcomes) assertThat(c).as("verifications failing, with zero signs only, exact").isGreaterThan(50);
    }

    /**
     * The solver on the lanes in this JVM ({@link Q4_0Lattice#useLanes}, as the plan's sampled fit runs it) against the
     * scalar reference over rows of adversarial blocks (NaN and infinity among them), the candidate order carried from
     * block to block, half the rows with an importance per column (the least-error fallback's terms come from the lanes'
     * {@code squaredErrors} then): everything the encoder writes or counts.
     */
    @Test
    void lanesRowsAgreeWithTheScalarReference() {
        SplittableRandom r = new SplittableRandom(1516);
        Q4_0Lattice lanes = new Q4_0Lattice(StoredPrecision.BF16), ref = Q4_0LatticeTest.scalarReference();
        lanes.useLanes();
        int blocksPerRow = 36;
        float[] row = new float[blocksPerRow * QK];
        LatticeStats a = new LatticeStats(), b = new LatticeStats();
        for (int n = 0; n < 800; n++) {
            for (int k = 0; k < blocksPerRow; k++) Q4_0LatticeTest.adversarialBlock(r, (n + k * (1 + n % 5)) % 14, row, k * QK);
            float[] importance = null;
            if (n % 2 == 1) {
                importance = new float[blocksPerRow * QK];
                for (int i = 0; i < importance.length; i++) importance[i] = (float) (r.nextDouble() * r.nextDouble() * 3);
            }
            for (int k = 0; k < blocksPerRow; k++) {
                String at = "row " + n + " block " + k;
                assertThat(lanes.solve(row, k * QK, importance, k * QK)).as(at).isEqualTo(ref.solve(row, k * QK, importance, k * QK));
                Q4_0LatticeTest.assertSameBlock(lanes, ref, at);
                a.add(lanes);
                b.add(ref);
            }
        }
        assertThat(a.exactBlocks()).isEqualTo(b.exactBlocks()).isGreaterThan(0).isLessThan(a.blocks());
    }

    @Test
    void packsCodesAsTheVectorKernel() {
        SplittableRandom r = new SplittableRandom(16);
        float[] codes = new float[QK];
        byte[] v = new byte[QK / 2 + 3], l = new byte[QK / 2 + 3];
        for (int n = 0; n < 2000; n++) {
            for (int i = 0; i < QK; i++) codes[i] = r.nextInt(16) - 8;
            Q4_0LatticeVector.packCodes(codes, MemorySegment.ofArray(v), 3);
            Q4_0LatticeLanes.packCodes(codes, MemorySegment.ofArray(l), 3);
            assertThat(l).isEqualTo(v);
        }
    }
}
