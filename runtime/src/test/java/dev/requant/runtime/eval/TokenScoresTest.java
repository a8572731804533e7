package dev.requant.runtime.eval;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.data.Offset.offset;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class TokenScoresTest {
    @Test
    void nearestIntRoundsHalfToEvenLikeTheFloatTrick() {
        assertThat(TokenScores.nearestInt(0.5f)).isZero();
        assertThat(TokenScores.nearestInt(1.5f)).isEqualTo(2);
        assertThat(TokenScores.nearestInt(2.5f)).isEqualTo(2);
        assertThat(TokenScores.nearestInt(65534.6f)).isEqualTo(65535);
        assertThat(TokenScores.nearestInt(-1.5f)).isEqualTo(-2);
        // the C code stores the int into a uint16: 65536 wraps to 0
        assertThat((short) TokenScores.nearestInt(65535.7f) & 0xFFFF).isZero();
    }

    @Test
    void recordOfHandComputedLogits() {
        float[] l = {0f, 1f, 2f, -20f, 2f};
        short[] rec = new short[TokenScores.recordWords(5)];
        assertThat(rec).hasSize(2 * 3 + 4); // odd vocabulary: one pad word
        float nll = TokenScores.encodeRecord(l, 0, 5, 1, rec, 0);
        double lse = Math.log(Math.exp(-2) + Math.exp(-1) + 1 + Math.exp(-22) + 1);
        assertThat((double) nll).isCloseTo(2 + lse - 1, offset(1e-6));
        // min is clamped to max - 16 = -14; scale spans [min, max]
        assertThat(TokenScores.scale(rec, 0)).isEqualTo(16f / 65535f);
        assertThat((double) TokenScores.minLogProb(rec, 0)).isCloseTo(-14 - 2 - lse, offset(1e-6));
        assertThat(rec[4 + 2] & 0xFFFF).isEqualTo(65535);
        assertThat(rec[4 + 3]).isZero(); // below the floor
        assertThat(rec[4 + 5]).isZero(); // the pad word
        for (int i = 0; i < 5; i++) {
            double exact = Math.max(l[i], -14) - 2 - lse;
            assertThat((double) TokenScores.recordLogProb(rec, 0, i)).isCloseTo(exact, offset(16.0 / 65535 / 2 + 1e-5));
        }
    }

    @Test
    void kldOfHandComputedDistributions() {
        float[] base = {1f, 2f, 3f, -30f};
        float[] q = {1.5f, 1.5f, 3f, 0f};
        float[] lpb = new float[4];
        float nllBase = TokenScores.exactLogProbs(base, 0, 4, 2, lpb, 0);
        TokenScores.TokenKld k = TokenScores.kld(q, 0, 4, lpb, 0, nllBase, 2, false);
        double zb = 0, zq = 0;
        for (int i = 0; i < 4; i++) {
            zb += Math.exp(base[i]);
            zq += Math.exp(q[i]);
        }
        double kl = 0;
        for (int i = 0; i < 4; i++) {
            double pb = Math.exp(base[i]) / zb, pq = Math.exp(q[i]) / zq;
            kl += pb * Math.log(pb / pq);
        }
        assertThat(k.kld()).isCloseTo(kl, offset(1e-6));
        assertThat((double) k.nll()).isCloseTo(-Math.log(Math.exp(3) / zq), offset(1e-6));
        assertThat((double) k.pDiff()).isCloseTo(Math.exp(3) / zq - Math.exp(3) / zb, offset(1e-6));
        assertThat(k.sameTop()).isTrue();
        // the floored (file) variant leaves out the -30 term: base log-prob ≤ -16
        TokenScores.TokenKld floored = TokenScores.kld(q, 0, 4, lpb, 0, nllBase, 2, true);
        double pb3 = Math.exp(base[3]) / zb, pq3 = Math.exp(q[3]) / zq;
        assertThat(floored.kld()).isCloseTo(kl - pb3 * Math.log(pb3 / pq3), offset(1e-6));
    }

    @Test
    void fastScoresAgreeWithReference() {
        SplittableRandom rnd = new SplittableRandom(5);
        for (int n : new int[] {3, 17, 1001, 4099}) {
            float[] base = new float[n], q = new float[n];
            for (int i = 0; i < n; i++) {
                base[i] = (float) (rnd.nextGaussian() * 6);
                q[i] = base[i] + (float) (rnd.nextGaussian() * 0.3);
            }
            if (n > 10) q[7] = Float.NEGATIVE_INFINITY; // a suppressed token in Q only
            int tok = n / 2;
            // exact reference
            float[] lpb = new float[n];
            float nb = TokenScores.exactLogProbs(base, 0, n, tok, lpb, 0);
            FastTokenScores.BaseRow row = new FastTokenScores.BaseRow(n);
            row.setFromLogits(base, 0, n, tok);
            assertThat(row.nll()).isCloseTo(nb, offset(1e-5f));
            assertThat(row.nllExact()).isCloseTo(TokenScores.nll(base, 0, n, tok), offset(1e-5));
            check(TokenScores.kld(q, 0, n, lpb, 0, nb, tok, false), FastTokenScores.kld(q, 0, n, row, tok));
            // file reference
            short[] rec = new short[TokenScores.recordWords(n)];
            TokenScores.encodeRecord(base, 0, n, tok, rec, 0);
            float[] dec = new float[n];
            for (int i = 0; i < n; i++) dec[i] = TokenScores.recordLogProb(rec, 0, i);
            row.setFromRecord(rec, n, tok);
            check(TokenScores.kld(q, 0, n, dec, 0, -dec[tok], tok, true), FastTokenScores.kld(q, 0, n, row, tok));
        }
    }

    private static void check(TokenScores.TokenKld ref, TokenScores.TokenKld fast) {
        assertThat(fast.nll()).isCloseTo(ref.nll(), offset(1e-5f));
        assertThat(fast.nllBase()).isEqualTo(ref.nllBase());
        assertThat(fast.sameTop()).isEqualTo(ref.sameTop());
        assertThat(fast.kld()).isCloseTo(ref.kld(), offset(1e-6 * Math.max(1, Math.abs(ref.kld()))));
        assertThat(fast.pDiff()).isCloseTo(ref.pDiff(), offset(1e-6f));
    }
}
