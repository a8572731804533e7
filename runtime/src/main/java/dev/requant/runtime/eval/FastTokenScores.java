package dev.requant.runtime.eval;

import dev.requant.runtime.cpu.VectorMath;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The Vector API version of {@link TokenScores}' per-token KLD (a Gemma vocabulary has 262,144 entries, scored for
 * every token of every compared model). Same formulas and float/double mix; the exponentials come from
 * {@link VectorMath} (deterministic, about 1 ulp) and the double sums run lane-parallel, so results agree with the scalar reference to rounding (tested).
 */
public final class FastTokenScores {
    private FastTokenScores() {}

    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    static final VectorSpecies<Double> D = VectorSpecies.of(double.class, F.vectorShape());
    static final int L = F.length();

    /** A base distribution for one scored token: log-probs, their exponentials, NLL of the target and arg-max. */
    public static final class BaseRow {
        final float[] logProb;
        final float[] prob;
        float nll;
        double nllExact;
        int argmax;
        boolean floored;

        public BaseRow(int nVocab) {
            logProb = new float[nVocab];
            prob = new float[nVocab];
        }

        public float nll() { return nll; }

        /**
         * The NLL as llama-perplexity's plain perplexity run computes it ({@code -(l[tok] - max - log(sum))} in double);
         * NaN for a row read from a logits file.
         */
        public double nllExact() { return nllExact; }

        /** Fills the row from a logits row of the base model (exact log-probs, no floor). */
        public void setFromLogits(float[] l, int off, int n, int tok) {
            float max = max(l, off, n);
            double sumExp = sumExp(l, off, n, max);
            float shift = max + (float) Math.log(sumExp);
            nllExact = -((double) (l[off + tok] - max) - Math.log(sumExp));
            int i = 0;
            for (; i + L <= n; i += L) FloatVector.fromArray(F, l, off + i).sub(shift).intoArray(logProb, i);
            for (; i < n; i++) logProb[i] = l[off + i] - shift;
            nll = shift - l[off + tok];
            floored = false;
            finish(n);
        }

        /** Fills the row from a logits-file record (16-bit log-probs, terms at or below -16 skipped). */
        public void setFromRecord(short[] rec, int n, int tok) {
            float scale = TokenScores.scale(rec, 0), min = TokenScores.minLogProb(rec, 0);
            for (int i = 0; i < n; i++) logProb[i] = scale * (rec[4 + i] & 0xFFFF) + min;
            nll = -(scale * (rec[4 + tok] & 0xFFFF) + min);
            nllExact = Double.NaN;
            floored = true;
            finish(n);
        }

        private void finish(int n) {
            int i = 0;
            for (; i + L <= n; i += L) VectorMath.exp(FloatVector.fromArray(F, logProb, i)).intoArray(prob, i);
            for (; i < n; i++) prob[i] = VectorMath.exp(logProb[i]);
            float best = logProb[0];
            int arg = 0;
            for (int j = 1; j < n; j++) {
                if (logProb[j] > best) {
                    best = logProb[j];
                    arg = j;
                }
            }
            argmax = arg;
        }
    }

    /** {@link TokenScores#kld} against a prepared base row. */
    public static TokenScores.TokenKld kld(float[] l, int off, int n, BaseRow base, int tok) {
        // max and its first index
        float max = max(l, off, n);
        int i;
        int imax = 0;
        while (l[off + imax] != max && imax < n - 1) imax++;

        double sumExp = sumExp(l, off, n, max);
        float logSumExp = (float) Math.log(sumExp);
        float nll = max + logSumExp - l[off + tok];
        float shift = max + logSumExp;

        DoubleVector acc = DoubleVector.zero(D);
        FloatVector vshift = FloatVector.broadcast(F, shift);
        FloatVector floor = FloatVector.broadcast(F, -TokenScores.LOG_PROB_FLOOR);
        int dl = D.length();
        i = 0;
        for (; i + L <= n; i += L) {
            FloatVector lpb = FloatVector.fromArray(F, base.logProb, i);
            FloatVector p = FloatVector.fromArray(F, base.prob, i);
            VectorMask<Float> use = base.floored ? lpb.compare(VectorOperators.GT, floor) : p.compare(VectorOperators.GT, 0f);
            FloatVector term = p.mul(lpb.sub(FloatVector.fromArray(F, l, off + i)).add(vshift));
            term = FloatVector.zero(F).blend(term, use);
            for (int part = 0; part < L / dl; part++) acc = acc.add((DoubleVector) term.convertShape(VectorOperators.F2D, D, part));
        }
        double sum = VectorMath.sum(acc);
        for (; i < n; i++) {
            float lpb = base.logProb[i];
            boolean use = base.floored ? lpb > -TokenScores.LOG_PROB_FLOOR : base.prob[i] > 0f;
            if (use) sum += base.prob[i] * (lpb - l[off + i] + shift);
        }
        float pBase = VectorMath.exp(-base.nll);
        float p = VectorMath.exp(-nll);
        return new TokenScores.TokenKld(nll, base.nll, sum, p - pBase, imax == base.argmax);
    }

    static float max(float[] l, int off, int n) {
        FloatVector vmax = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        int i = 0;
        for (; i + L <= n; i += L) vmax = vmax.max(FloatVector.fromArray(F, l, off + i));
        float max = vmax.reduceLanes(VectorOperators.MAX);
        for (; i < n; i++) max = Math.max(max, l[off + i]);
        return max;
    }

    /** Σ_double expf(l_i − max). */
    static double sumExp(float[] l, int off, int n, float max) {
        DoubleVector acc = DoubleVector.zero(D);
        int dl = D.length();
        int i = 0;
        for (; i + L <= n; i += L) {
            FloatVector e = VectorMath.exp(FloatVector.fromArray(F, l, off + i).sub(max));
            for (int part = 0; part < L / dl; part++) acc = acc.add((DoubleVector) e.convertShape(VectorOperators.F2D, D, part));
        }
        double s = VectorMath.sum(acc);
        for (; i < n; i++) s += VectorMath.exp(l[off + i] - max);
        return s;
    }
}
