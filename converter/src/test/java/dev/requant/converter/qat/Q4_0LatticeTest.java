package dev.requant.converter.qat;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.requant.formats.ggml.BFloat16;
import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.ggml.Float16;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.io.LittleEndian;
import dev.requant.testmodels.QatWeights;
import dev.requant.testmodels.QatWeights.ScaleDtype;
import dev.requant.testmodels.QatWeights.ScaleRule;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Random;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class Q4_0LatticeTest {
    static final int QK = 32;

    static float[] qatBlock(SplittableRandom r, ScaleRule rule, boolean bf16Scale, float sigma) {
        float[] s = new float[QK];
        QatWeights.block(r, rule, bf16Scale ? ScaleDtype.BF16 : ScaleDtype.FP32, sigma, null, s, 0);
        return s;
    }

    /** Independent reference: does any F16 scale (nearest codes) reproduce the block bit for bit, zeros by value? */
    static boolean anyF16Reproduces(float[] s) {
        for (int h = 1; h < 0x7C00; h++) {
            for (int sign = 0; sign < 2; sign++) {
                float d = Float16.toFloat((short) (h | (sign << 15)));
                boolean ok = true;
                for (int i = 0; i < QK && ok; i++) {
                    int q = Math.max(-8, Math.min(7, (int) Math.rint(s[i] / d)));
                    float p = BFloat16.round((float) q * d);
                    ok = p == s[i] && (s[i] == 0f || Float.floatToRawIntBits(p) == Float.floatToRawIntBits(s[i]));
                }
                if (ok) return true;
            }
        }
        return false;
    }

    /** Decodes the written block with the Q4_0 codec and rounds to BF16, as the acceptance check does. */
    static float[] roundTrip(Q4_0Lattice lat) {
        byte[] block = new byte[Q4_0Lattice.BLOCK_BYTES];
        lat.writeBlock(MemorySegment.ofArray(block), 0);
        float[] out = new float[QK];
        BlockCodec.of(GgmlType.Q4_0).decode(MemorySegment.ofArray(block), 0, out, 0, QK);
        for (int i = 0; i < QK; i++) out[i] = BFloat16.round(out[i]);
        return out;
    }

    static void assertBitIdentical(float[] a, float[] b) {
        for (int i = 0; i < QK; i++) {
            assertThat(Float.floatToRawIntBits(a[i])).as("element %d: %s vs %s", i, a[i], b[i]).isEqualTo(Float.floatToRawIntBits(b[i]));
        }
    }

    @ParameterizedTest
    @EnumSource(value = ScaleRule.class, names = {"MAX_NEG8", "ABSMAX_7", "LEARNED"})
    void bf16HeldScalesAreAlwaysRecoveredBitForBit(ScaleRule rule) {
        SplittableRandom r = new SplittableRandom(rule.ordinal());
        Q4_0Lattice lat = new Q4_0Lattice(StoredPrecision.BF16);
        for (int n = 0; n < 3000; n++) {
            float[] s = qatBlock(r, rule, true, n % 3 == 0 ? 0.002f : 0.03f);
            assertThat(lat.solve(s, 0, null, 0)).as("block %d", n).isTrue();
            assertThat(lat.bf16Scale()).isTrue();
            assertBitIdentical(roundTrip(lat), s);
            if (rule == ScaleRule.MAX_NEG8) assertThat(lat.rule()).isEqualTo(LatticeRule.SIGNED_MAX_OVER_NEG8);
            if (rule == ScaleRule.ABSMAX_7) assertThat(lat.rule()).isEqualTo(LatticeRule.ABSMAX_OVER_7);
        }
    }

    @ParameterizedTest
    @EnumSource(value = ScaleRule.class, names = {"MAX_NEG8", "ABSMAX_7", "LEARNED"})
    void fp32HeldScalesAreExactWheneverAnyF16ScaleIs(ScaleRule rule) {
        SplittableRandom r = new SplittableRandom(100 + rule.ordinal());
        Q4_0Lattice lat = new Q4_0Lattice(StoredPrecision.BF16);
        int exact = 0, n = 120;
        for (int k = 0; k < n; k++) {
            float[] s = qatBlock(r, rule, false, 0.02f);
            boolean solved = lat.solve(s, 0, null, 0);
            assertThat(solved).as("block %d: solver agrees with the exhaustive F16 search", k).isEqualTo(anyF16Reproduces(s));
            if (solved) {
                exact++;
                assertBitIdentical(roundTrip(lat), s);
            } else {
                assertThat(lat.maxAbsError()).isGreaterThan(0).isLessThan(0.02 * 0.05);
            }
        }
        assertThat(exact).isGreaterThan(n * 9 / 10);
    }

    @Test
    void randomNonLatticeBlocksAgreeWithTheExhaustiveSearch() {
        Random r = new Random(7);
        Q4_0Lattice lat = new Q4_0Lattice(StoredPrecision.BF16);
        for (int k = 0; k < 40; k++) {
            float[] s = new float[QK];
            for (int i = 0; i < QK; i++) s[i] = BFloat16.round((float) r.nextGaussian());
            assertThat(lat.solve(s, 0, null, 0)).isEqualTo(anyF16Reproduces(s));
        }
    }

    @Test
    void zeroBlocksKeepTheSignOfTheirZeros() {
        Q4_0Lattice lat = new Q4_0Lattice(StoredPrecision.BF16);
        assertThat(lat.solve(new float[QK], 0, null, 0)).isTrue();
        assertBitIdentical(roundTrip(lat), new float[QK]);
        float[] negZeros = new float[QK];
        Arrays.fill(negZeros, -0.0f);
        assertThat(lat.solve(negZeros, 0, null, 0)).isTrue();
        assertBitIdentical(roundTrip(lat), negZeros);
        assertThat(lat.rule()).isEqualTo(LatticeRule.ZERO);
    }

    @Test
    void zerosInsideABlockDecideTheScaleSign() {
        // d < 0 stores code-0 weights as -0.0; a solver choosing d > 0 would flip them.
        float d = BFloat16.round(-0.01f);
        float[] s = new float[QK];
        for (int i = 0; i < QK; i++) s[i] = BFloat16.round((float) ((i % 5) - 2) * d);
        s[3] = BFloat16.round(-8 * d);
        assertThat(Float.floatToRawIntBits(s[2])).isEqualTo(0x80000000); // (0)*(negative d) = -0
        Q4_0Lattice lat = new Q4_0Lattice(StoredPrecision.BF16);
        assertThat(lat.solve(s, 0, null, 0)).isTrue();
        assertThat(lat.scale()).isNegative();
        assertThat(lat.zeroSignMismatches()).isZero();
        assertBitIdentical(roundTrip(lat), s);
    }

    @Test
    void singleValueBlockIsExact() {
        float[] s = new float[QK];
        Arrays.fill(s, BFloat16.round(0.0371f));
        Q4_0Lattice lat = new Q4_0Lattice(StoredPrecision.BF16);
        assertThat(lat.solve(s, 0, null, 0)).isTrue();
        assertBitIdentical(roundTrip(lat), s);
    }

    @Test
    void scalesBelowF16NormalRangeAreFoundOrReportedInexact() {
        SplittableRandom r = new SplittableRandom(3);
        Q4_0Lattice lat = new Q4_0Lattice(StoredPrecision.BF16);
        int exact = 0;
        for (int k = 0; k < 60; k++) {
            // d around 2^-17 .. 2^-20: F16 subnormal scales keep only a few significant bits
            float[] s = qatBlock(r, ScaleRule.MAX_NEG8, true, (float) Math.scalb(1.0, -14 - (k % 5)));
            boolean solved = lat.solve(s, 0, null, 0);
            assertThat(solved).isEqualTo(anyF16Reproduces(s));
            if (solved) {
                exact++;
                assertBitIdentical(roundTrip(lat), s);
            }
        }
        assertThat(exact).isPositive();
    }

    @Test
    void valuesBeyondF16ScalesAreInexactNotBroken() {
        float[] s = new float[QK];
        for (int i = 0; i < QK; i++) s[i] = BFloat16.round((i - 16) * 1e6f);
        Q4_0Lattice lat = new Q4_0Lattice(StoredPrecision.BF16);
        assertThat(lat.solve(s, 0, null, 0)).isFalse();
        assertThat(Float.isFinite(lat.scale())).isTrue();
    }

    @Test
    void importanceWeightsTheFallbackError() {
        Random r = new Random(11);
        float[] s = new float[QK];
        for (int i = 0; i < QK; i++) s[i] = BFloat16.round((float) r.nextGaussian() * 0.05f);
        float[] heavy = new float[QK];
        Arrays.fill(heavy, 1e-3f);
        heavy[5] = 1e3f;
        Q4_0Lattice plain = new Q4_0Lattice(StoredPrecision.BF16);
        Q4_0Lattice weighted = new Q4_0Lattice(StoredPrecision.BF16);
        plain.solve(s, 0, null, 0);
        weighted.solve(s, 0, heavy, 0);
        double ePlain = Math.abs(plain.code(5) * plain.scale() - s[5]);
        double eWeighted = Math.abs(weighted.code(5) * weighted.scale() - s[5]);
        assertThat(eWeighted).isLessThanOrEqualTo(ePlain);
    }

    static Q4_0Lattice scalarReference() {
        Q4_0Lattice ref = new Q4_0Lattice(StoredPrecision.BF16);
        ref.useScalarPath();
        return ref;
    }

    /** Solves block s with both solvers: the same decision, scale, codes and zero-sign count. Returns whether exact. */
    static boolean solveBothAndCompare(Q4_0Lattice vec, Q4_0Lattice ref, float[] s, int n) {
        boolean a = vec.solve(s, 0, null, 0), b = ref.solve(s, 0, null, 0);
        assertThat(a).as("block %d", n).isEqualTo(b);
        assertThat(Float.floatToRawIntBits(vec.scale())).as("block %d", n).isEqualTo(Float.floatToRawIntBits(ref.scale()));
        for (int i = 0; i < QK; i++) assertThat(vec.code(i)).as("block %d", n).isEqualTo(ref.code(i));
        assertThat(vec.zeroSignMismatches()).as("block %d", n).isEqualTo(ref.zeroSignMismatches());
        return a;
    }

    /** The vector verification against the scalar reference: same decision, codes and scale on every kind of block. */
    @Test
    void vectorPathAgreesWithScalarReference() {
        SplittableRandom r = new SplittableRandom(42);
        Q4_0Lattice vec = new Q4_0Lattice(StoredPrecision.BF16), ref = scalarReference();
        float[] s = new float[QK];
        for (int n = 0; n < 4000; n++) {
            ScaleRule rule = ScaleRule.values()[n % 4];
            QatWeights.EdgeBlock edge = n % 7 == 0 ? QatWeights.EdgeBlock.values()[n % 3] : null;
            QatWeights.block(r, rule, n % 2 == 0 ? ScaleDtype.BF16 : ScaleDtype.FP32, n % 5 == 0 ? 1e-3f : 0.05f, edge, s, 0);
            if (n % 11 == 0) s[n % QK] = -0.0f;
            solveBothAndCompare(vec, ref, s, n);
        }
    }

    /**
     * The quick rejection of candidate codes (vector path only) must never drop a lattice the exact search finds:
     * blocks whose codes share a factor (several lattices fit, the largest extreme code wins), blocks with few distinct
     * codes, scales across the whole F16 range down to values near the BF16 subnormals, and perturbed blocks that fit
     * no lattice, against the scalar reference that never rejects early.
     */
    @Test
    void quickRejectionNeverDropsALattice() {
        SplittableRandom r = new SplittableRandom(7);
        Q4_0Lattice vec = new Q4_0Lattice(StoredPrecision.BF16), ref = scalarReference();
        float[] s = new float[QK];
        int exact = 0;
        for (int n = 0; n < 30000; n++) {
            int step = 1 + n % 4;                                   // codes are multiples of step
            int exp = n % 13 == 0 ? -(110 + r.nextInt(20)) : -r.nextInt(30);
            float d = BFloat16.round((float) (Math.scalb(1.0 + r.nextDouble(), exp) * (r.nextBoolean() ? 1 : -1)));
            d = Float16.round(d) == 0f ? Float.MIN_NORMAL : d;
            for (int i = 0; i < QK; i++) {
                int q = (r.nextInt(16) - 8) / step * step;
                if (n % 5 == 0) q = r.nextBoolean() ? 0 : q;        // mostly zeros
                s[i] = BFloat16.round((float) q * d);
            }
            if (n % 3 == 0) s[r.nextInt(QK)] = BFloat16.round(s[r.nextInt(QK)] * (1 + 0.02f * r.nextInt(1, 8)));
            if (solveBothAndCompare(vec, ref, s, n)) exact++;
        }
        assertThat(exact).as("both exact and inexact blocks were exercised").isBetween(10000, 29000);
    }

    /**
     * The vector path as a conversion runs it (rows of blocks, the candidate order carried from block to block) against
     * the scalar reference, on the blocks where a shortcut could go wrong: ties of the extreme magnitude with both
     * signs, values exactly half-way between two codes' products, zero blocks with either sign of zero, BF16
     * subnormals, blocks exactly on a lattice whose codes share a factor (several extreme codes fit), one non-zero
     * value, a lattice with one value nudged off it, and plain QAT rows. Everything the encoder writes or counts must
     * agree: the decision, scale, codes, rule, extreme code, BF16-scale flag, zero-sign count, error and block bytes.
     */
    @Test
    void vectorRowsAgreeWithScalarReferenceOnAdversarialBlocks() {
        SplittableRandom r = new SplittableRandom(2026);
        Q4_0Lattice vec = new Q4_0Lattice(StoredPrecision.BF16), ref = scalarReference();
        int blocksPerRow = 36;
        float[] row = new float[blocksPerRow * QK];
        int[] kinds = new int[12];
        for (int n = 0; n < 1500; n++) {
            for (int b = 0; b < blocksPerRow; b++) {
                int kind = (n + b * (1 + n % 5)) % kinds.length;
                kinds[kind]++;
                adversarialBlock(r, kind, row, b * QK);
            }
            for (int b = 0; b < blocksPerRow; b++) {
                String at = "row " + n + " block " + b;
                assertThat(vec.solve(row, b * QK, null, 0)).as(at).isEqualTo(ref.solve(row, b * QK, null, 0));
                assertSameBlock(vec, ref, at);
            }
        }
        for (int c : kinds) assertThat(c).isGreaterThan(1000);
    }

    /**
     * The fast path block by block against the scalar reference: the adversarial kinds above plus blocks holding NaN or
     * infinity and lattices whose largest magnitude sits at the bound of the quick test, in rows of 1 to 40 blocks at any
     * offset of a larger array, one solver for rows of every length, half of them with an importance per column (the
     * least-error fallback's terms are computed a vector at a time on this path).
     */
    @Test
    void vectorPathAgreesWithScalarReferenceOnEveryKind() {
        SplittableRandom r = new SplittableRandom(77);
        Q4_0Lattice vec = new Q4_0Lattice(StoredPrecision.BF16), ref = scalarReference();
        float[] all = new float[48 * QK];
        int[] kinds = new int[14];
        for (int n = 0; n < 1500; n++) {
            int blocks = 1 + r.nextInt(40);
            int off = r.nextInt(all.length - blocks * QK + 1);
            for (int b = 0; b < blocks; b++) {
                int kind = r.nextInt(kinds.length);
                kinds[kind]++;
                adversarialBlock(r, kind, all, off + b * QK);
            }
            // half the rows with an importance per column, which the least-error fallback weighs its errors by
            float[] importance = null;
            if (n % 2 == 1) {
                importance = new float[blocks * QK];
                for (int i = 0; i < importance.length; i++) importance[i] = (float) (r.nextDouble() * r.nextDouble() * 3);
            }
            for (int b = 0; b < blocks; b++) {
                String at = "row " + n + " block " + b;
                assertThat(vec.solve(all, off + b * QK, importance, b * QK)).as(at).isEqualTo(ref.solve(all, off + b * QK, importance, b * QK));
                assertSameBlock(vec, ref, at);
            }
        }
        for (int c : kinds) assertThat(c).isGreaterThan(1000);
    }

    /**
     * measureRow (the plan's sampled fit, through the row encoder) counts what the scalar reference finds block by block,
     * on the vector kernels and on the lanes, for rows of the adversarial kinds at any offset, one solver for every row.
     */
    @Test
    void measuredRowsCountWhatTheScalarReferenceFinds() {
        SplittableRandom r = new SplittableRandom(78);
        Q4_0Lattice vec = new Q4_0Lattice(StoredPrecision.BF16), lanes = new Q4_0Lattice(StoredPrecision.BF16), ref = scalarReference();
        lanes.useLanes();
        LatticeStats sv = new LatticeStats(), sl = new LatticeStats(), sr = new LatticeStats();
        float[] all = new float[48 * QK];
        for (int n = 0; n < 400; n++) {
            int blocks = 1 + r.nextInt(40);
            int off = r.nextInt(all.length - blocks * QK + 1);
            for (int b = 0; b < blocks; b++) adversarialBlock(r, r.nextInt(14), all, off + b * QK);
            vec.measureRow(all, off, blocks * QK, sv);
            lanes.measureRow(all, off, blocks * QK, sl);
            for (int b = 0; b < blocks; b++) {
                ref.solve(all, off + b * QK, null, 0);
                sr.add(ref);
            }
        }
        assertThat(sr.exactBlocks()).isGreaterThan(1000);
        assertThat(sr.inexactBlocks()).isGreaterThan(100);
        assertSameCounts(sv, sr);
        assertSameCounts(sl, sr);
    }

    /** Everything a conversion reports from the counts: blocks, exact ones, rules, extreme codes, scale type, zero signs, error. */
    static void assertSameCounts(LatticeStats got, LatticeStats want) {
        assertThat(got.blocks()).isEqualTo(want.blocks());
        assertThat(got.exactBlocks()).isEqualTo(want.exactBlocks());
        assertThat(got.ruleCounts()).isEqualTo(want.ruleCounts());
        for (int k = 1; k <= 8; k++) assertThat(got.extremeCodeCount(k)).as("extreme code %d", k).isEqualTo(want.extremeCodeCount(k));
        assertThat(got.scaleDtype()).isEqualTo(want.scaleDtype());
        assertThat(got.zeroSignMismatches()).isEqualTo(want.zeroSignMismatches());
        assertThat(Double.compare(got.maxAbsError(), want.maxAbsError())).isZero();
    }

    /**
     * encodeRows as the encoders run it (with the Vector API, batches of blocks solved side by side by
     * Q4_0LatticeVector.solveBatch across row boundaries and the blocks it leaves solved one by one) writes and counts
     * exactly what the scalar reference finds block by block: 1 to 3 rows of up to 72 blocks in all, at any offset of a
     * larger array, so that batches, batches across rows, their remainders and rows shorter than a batch all occur;
     * most blocks on QAT lattices of every rule with BF16 scales of either sign (where the batch answers), one in four
     * of the adversarial kinds (where it must leave the block to the solver, or answer as the solver would); half the
     * calls with an importance per column.
     */
    @Test
    void encodedRowsMatchScalarReferenceByteForByte() {
        SplittableRandom r = new SplittableRandom(79);
        Q4_0Lattice vec = new Q4_0Lattice(StoredPrecision.BF16), ref = scalarReference();
        LatticeStats sv = new LatticeStats(), sr = new LatticeStats();
        float[] all = new float[80 * QK];
        for (int n = 0; n < 1500; n++) {
            int rows = 1 + r.nextInt(3), perRow = 1 + r.nextInt(72 / rows), blocks = rows * perRow;
            int off = r.nextInt(all.length - blocks * QK + 1);
            for (int b = 0; b < blocks; b++) {
                if (r.nextInt(4) == 0) adversarialBlock(r, r.nextInt(14), all, off + b * QK);
                else QatWeights.block(r, ScaleRule.values()[r.nextInt(3)], ScaleDtype.BF16, 0.02f, null, all, off + b * QK);
            }
            float[] importance = null;
            if (n % 2 == 1) {
                importance = new float[perRow * QK];
                for (int i = 0; i < importance.length; i++) importance[i] = (float) (r.nextDouble() * r.nextDouble() * 3);
            }
            byte[] got = new byte[blocks * Q4_0Lattice.BLOCK_BYTES], want = new byte[got.length];
            vec.encodeRows(all, off, perRow * QK, rows, importance, MemorySegment.ofArray(got), 0, sv);
            for (int b = 0; b < blocks; b++) {
                ref.solve(all, off + b * QK, importance, b % perRow * QK);
                ref.writeBlock(MemorySegment.ofArray(want), (long) b * Q4_0Lattice.BLOCK_BYTES);
                sr.add(ref);
            }
            for (int b = 0; b < blocks; b++) {
                int at = b * Q4_0Lattice.BLOCK_BYTES;
                assertThat(Arrays.copyOfRange(got, at, at + Q4_0Lattice.BLOCK_BYTES)).as("call %d block %d", n, b)
                        .isEqualTo(Arrays.copyOfRange(want, at, at + Q4_0Lattice.BLOCK_BYTES));
            }
        }
        assertThat(sr.exactBlocks()).isGreaterThan(20000);
        assertThat(sr.inexactBlocks()).isGreaterThan(1000);
        assertSameCounts(sv, sr);
    }

    /**
     * The batch kernel itself, for each QAT rule with BF16 scales: it answers nearly every block (the fast path is not
     * quietly handing everything to the solver), and every block it answers has the scale bits, codes and extreme code
     * the scalar reference finds. Blocks without stored zeros whose extreme has the other sign than the scale are the
     * ones it leaves (the solver tries the other sign first there).
     */
    @ParameterizedTest
    @EnumSource(value = ScaleRule.class, names = {"MAX_NEG8", "ABSMAX_7", "LEARNED"})
    void batchKernelAnswersQatBlocksAsTheReferenceDoes(ScaleRule rule) {
        assumeTrue(Q4_0Lattice.VECTOR, "the Vector API's kernels");
        SplittableRandom r = new SplittableRandom(80 + rule.ordinal());
        int lanes = Q4_0LatticeVector.batchBlocks();
        float[] x = new float[lanes * QK], xt = new float[2 * lanes * QK];
        int[] words = new int[lanes * QK / 8], halves = new int[lanes], codes = new int[lanes];
        Q4_0Lattice ref = scalarReference();
        byte[] block = new byte[Q4_0Lattice.BLOCK_BYTES];
        long answered = 0, total = 0;
        for (int n = 0; n < 2000; n++) {
            for (int j = 0; j < lanes; j++) QatWeights.block(r, rule, ScaleDtype.BF16, 0.02f, null, x, j * QK);
            long solved = Q4_0LatticeVector.solveBatch(x, 0, 0x1p-100f, xt, words, halves, codes);
            for (int j = 0; j < lanes; j++, total++) {
                if ((solved >>> j & 1) == 0) continue;
                answered++;
                assertThat(ref.solve(x, j * QK, null, 0)).isTrue();
                ref.writeBlock(MemorySegment.ofArray(block), 0);
                MemorySegment got = MemorySegment.ofArray(new byte[Q4_0Lattice.BLOCK_BYTES]);
                got.set(LittleEndian.SHORT, 0, (short) halves[j]);
                for (int g = 0; g < QK / 8; g++) got.set(LittleEndian.INT, 2 + 4 * g, words[g * lanes + j]);
                assertThat(got.toArray(ValueLayout.JAVA_BYTE)).as("batch %d lane %d", n, j).isEqualTo(block);
                assertThat(codes[j]).isEqualTo(ref.extremeCode());
            }
        }
        assertThat((double) answered / total).isGreaterThan(0.9);
    }

    /**
     * After both solved the same block: everything the encoder writes or counts is the same (scale bits, codes, rule,
     * extreme code, BF16 scale, zero-sign mismatches, error, the packed block).
     */
    static void assertSameBlock(Q4_0Lattice got, Q4_0Lattice ref, String at) {
        assertThat(Float.floatToRawIntBits(got.scale())).as(at).isEqualTo(Float.floatToRawIntBits(ref.scale()));
        for (int i = 0; i < QK; i++) assertThat(got.code(i)).as(at).isEqualTo(ref.code(i));
        assertThat(got.rule()).as(at).isEqualTo(ref.rule());
        assertThat(got.extremeCode()).as(at).isEqualTo(ref.extremeCode());
        assertThat(got.bf16Scale()).as(at).isEqualTo(ref.bf16Scale());
        assertThat(got.zeroSignMismatches()).as(at).isEqualTo(ref.zeroSignMismatches());
        assertThat(Double.compare(got.maxAbsError(), ref.maxAbsError())).as(at + ": error %s against %s", got.maxAbsError(), ref.maxAbsError()).isZero();
        byte[] bg = new byte[Q4_0Lattice.BLOCK_BYTES], br = new byte[Q4_0Lattice.BLOCK_BYTES];
        got.writeBlock(MemorySegment.ofArray(bg), 0);
        ref.writeBlock(MemorySegment.ofArray(br), 0);
        assertThat(bg).as(at).isEqualTo(br);
    }

    /** One block of the given adversarial kind (see {@link #vectorRowsAgreeWithScalarReferenceOnAdversarialBlocks}). */
    static void adversarialBlock(SplittableRandom r, int kind, float[] x, int off) {
        float d = BFloat16.round((float) Math.scalb(1.0 + r.nextDouble(), -4 - r.nextInt(12)) * (r.nextBoolean() ? 1 : -1));
        switch (kind) {
            case 0 -> { // the extreme magnitude twice, with both signs, on a lattice
                for (int i = 0; i < QK; i++) x[off + i] = BFloat16.round((r.nextInt(15) - 7) * d);
                int k = 6 + r.nextInt(3);
                x[off + r.nextInt(QK)] = BFloat16.round(k * d);
                x[off + r.nextInt(QK)] = BFloat16.round(-k * d);
            }
            case 1 -> { // values half-way between the products of two codes (ties of the nearest code)
                for (int i = 0; i < QK; i++) x[off + i] = BFloat16.round((r.nextInt(14) - 7 + (r.nextInt(4) == 0 ? 0.5f : 0f)) * d);
                x[off + r.nextInt(QK)] = BFloat16.round(-8 * d);
            }
            case 2 -> { // zeros only: positive, negative or mixed
                int mix = r.nextInt(3);
                for (int i = 0; i < QK; i++) x[off + i] = mix == 0 ? 0f : mix == 1 ? -0f : (r.nextBoolean() ? 0f : -0f);
            }
            case 3 -> { // BF16 subnormals and tiny normals
                for (int i = 0; i < QK; i++) {
                    x[off + i] = BFloat16.toFloat((short) ((r.nextBoolean() ? 0x8000 : 0) | r.nextInt(r.nextBoolean() ? 0x80 : 0x200)));
                }
            }
            case 4, 5 -> { // exactly on a lattice, codes sharing a factor 2 or 4: several extreme codes fit
                int step = kind == 4 ? 2 : 4;
                for (int i = 0; i < QK; i++) x[off + i] = BFloat16.round((r.nextInt(16) - 8) / step * step * d);
            }
            case 6 -> { // one non-zero value among zeros of one sign
                float zero = r.nextBoolean() ? 0f : -0f;
                for (int i = 0; i < QK; i++) x[off + i] = zero;
                x[off + r.nextInt(QK)] = BFloat16.round((r.nextInt(15) + 1) * d);
            }
            case 7 -> { // a lattice with one value nudged by a BF16 step: no exact scale, the least-error fallback
                for (int i = 0; i < QK; i++) x[off + i] = BFloat16.round((r.nextInt(16) - 8) * d);
                int i = r.nextInt(QK);
                x[off + i] = BFloat16.toFloat((short) (BFloat16.fromFloat(x[off + i]) + (x[off + i] == 0f ? 1 : r.nextBoolean() ? 1 : -1)));
            }
            case 8 -> QatWeights.block(r, ScaleRule.LEARNED, ScaleDtype.BF16, 0.02f, null, x, off);
            case 9 -> QatWeights.block(r, ScaleRule.values()[r.nextInt(3)], ScaleDtype.FP32, 0.02f, null, x, off);
            case 10 -> QatWeights.block(r, ScaleRule.NONE, ScaleDtype.BF16, 0.02f, null, x, off);
            case 12 -> { // a lattice with a NaN or an infinity in it
                for (int i = 0; i < QK; i++) x[off + i] = BFloat16.round((r.nextInt(16) - 8) * d);
                x[off + r.nextInt(QK)] = new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}[r.nextInt(3)];
            }
            case 13 -> { // a lattice whose largest magnitude is just above, at or below 2^-100
                float tiny = BFloat16.round((float) Math.scalb(1.0 + r.nextDouble(), -103 - r.nextInt(2)) * (r.nextBoolean() ? 1 : -1));
                for (int i = 0; i < QK; i++) x[off + i] = BFloat16.round((r.nextInt(16) - 8) * tiny);
                if (r.nextBoolean()) x[off + r.nextInt(QK)] = BFloat16.round(-8 * tiny);
            }
            default -> QatWeights.block(r, ScaleRule.values()[r.nextInt(3)], ScaleDtype.BF16, 0.02f,
                    QatWeights.EdgeBlock.values()[r.nextInt(3)], x, off);
        }
    }
}
