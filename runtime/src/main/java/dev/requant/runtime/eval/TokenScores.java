package dev.requant.runtime.eval;

/**
 * The per-token arithmetic of llama-perplexity (tools/perplexity/perplexity.cpp), float for float: the log-softmax
 * with a double sum of {@code expf}, the 16-bit log-probability records of the {@code --kl-divergence-base} file, and
 * the KL-divergence of one token against a base distribution. Kept scalar and literal on purpose: it is the
 * definition that eval's numbers rest on.
 */
public final class TokenScores {
    private TokenScores() {}

    /** Log-probabilities below {@code max - 16} are clamped in the base file and left out of the KL sum. */
    public static final float LOG_PROB_FLOOR = 16f;

    /** uint16 words of one record for a vocabulary of n: 2·((n+1)/2) + 4 (scale and min as two floats first). */
    public static int recordWords(int nVocab) {
        return 2 * ((nVocab + 1) / 2) + 4;
    }

    /**
     * -log softmax(l)[tok] as perplexity()'s log_softmax computes it without a logits file:
     * {@code l[tok] - max - log(Σ_double expf(l - max))}, in double.
     */
    public static double nll(float[] l, int off, int n, int tok) {
        float max = l[off];
        for (int i = 1; i < n; i++) max = Math.max(max, l[off + i]);
        double sumExp = 0;
        for (int i = 0; i < n; i++) sumExp += (float) Math.exp(l[off + i] - max);
        return -((double) (l[off + tok] - max) - Math.log(sumExp));
    }

    /**
     * Encodes one record of the logits file (log_softmax(n_vocab, logits, log_prob, tok)) into {@code rec} starting
     * at word {@code recOff}: float scale, float min_log_prob, then n uint16 codes (and a zero pad word when n is
     * odd). Returns the token's negative log-likelihood as that function returns it ({@code max + lse - l[tok]}, float).
     */
    public static float encodeRecord(float[] l, int off, int n, int tok, short[] rec, int recOff) {
        float max = l[off], min = l[off];
        for (int i = 1; i < n; i++) {
            max = Math.max(max, l[off + i]);
            min = Math.min(min, l[off + i]);
        }
        min = Math.max(min, max - LOG_PROB_FLOOR);
        double sumExp = 0;
        for (int i = 0; i < n; i++) sumExp += (float) Math.exp(l[off + i] - max);
        float logSumExp = (float) Math.log(sumExp);
        float minLogProb = min - max - logSumExp;
        float scale = (max - min) / 65535f;
        putFloat(rec, recOff, scale);
        putFloat(rec, recOff + 2, minLogProb);
        int q0 = recOff + 4;
        if (scale != 0f) {
            float inv = 1 / scale;
            for (int i = 0; i < n; i++) rec[q0 + i] = l[off + i] > min ? (short) nearestInt(inv * (l[off + i] - min)) : 0;
        } else {
            for (int i = 0; i < n; i++) rec[q0 + i] = 0;
        }
        if ((n & 1) == 1) rec[q0 + n] = 0;
        return max + logSumExp - l[off + tok];
    }

    /** The decoded base log-probability of token i of a record: {@code scale·q[i] + min_log_prob} (float). */
    public static float recordLogProb(short[] rec, int recOff, int i) {
        return scale(rec, recOff) * (rec[recOff + 4 + i] & 0xFFFF) + minLogProb(rec, recOff);
    }

    public static float scale(short[] rec, int recOff) { return getFloat(rec, recOff); }

    public static float minLogProb(short[] rec, int recOff) { return getFloat(rec, recOff + 2); }

    /**
     * perplexity.cpp's nearest_int: adds 1.5·2²³ in float and keeps the low mantissa bits, i.e. round half to even
     * for |x| < 2²², with the same wrap-around as the C code beyond that.
     */
    static int nearestInt(float x) {
        float val = x + 12582912f;
        int i = Float.floatToRawIntBits(val);
        return (i & 0x007fffff) - 0x00400000;
    }

    private static void putFloat(short[] rec, int at, float v) {
        int bits = Float.floatToRawIntBits(v);
        rec[at] = (short) bits; // little-endian: low half first
        rec[at + 1] = (short) (bits >>> 16);
    }

    private static float getFloat(short[] rec, int at) {
        return Float.intBitsToFloat((rec[at] & 0xFFFF) | (rec[at + 1] << 16));
    }

    /**
     * One token's statistics against a base distribution, as perplexity.cpp's KL log_softmax computes them from the
     * current logits {@code l} and base log-probs {@code lpb} (decoded floats, one per vocabulary entry).
     *
     * @param floorBase true for a base read from a logits file: terms with base log-prob ≤ -16 are skipped, as
     *     llama.cpp skips them; false for an exact base: every term with a non-zero base probability counts
     * @param nllBase the base's negative log-likelihood of {@code tok}
     */
    public static TokenKld kld(float[] l, int off, int n, float[] lpb, int lpbOff, float nllBase, int tok, boolean floorBase) {
        float max = l[off];
        int imax = 0;
        for (int i = 1; i < n; i++) {
            if (l[off + i] > max) {
                max = l[off + i];
                imax = i;
            }
        }
        double sumExp = 0;
        for (int i = 0; i < n; i++) sumExp += (float) Math.exp(l[off + i] - max);
        float logSumExp = (float) Math.log(sumExp);
        float nll = max + logSumExp - l[off + tok];
        float shift = max + logSumExp;
        double sum = 0;
        int imaxBase = -1;
        float baseMax = 0;
        for (int i = 0; i < n; i++) {
            float pLogBase = lpb[lpbOff + i];
            if (i == 0 || pLogBase > baseMax) {
                baseMax = pLogBase;
                imaxBase = i;
            }
            if (floorBase ? pLogBase > -LOG_PROB_FLOOR : pLogBase != Float.NEGATIVE_INFINITY) {
                float pBase = (float) Math.exp(pLogBase);
                sum += pBase * (pLogBase - l[off + i] + shift);
            }
        }
        float pBase = (float) Math.exp(-nllBase);
        float p = (float) Math.exp(-nll);
        return new TokenKld(nll, nllBase, sum, p - pBase, imax == imaxBase);
    }

    /**
     * One scored token.
     *
     * @param kld Σ p_base·(log p_base − log p), double as in llama.cpp (stored as float for percentiles)
     * @param pDiff p(tok) − p_base(tok) (float)
     */
    public record TokenKld(float nll, float nllBase, double kld, float pDiff, boolean sameTop) {}

    /**
     * Exact base log-probs of one logits row ({@code l_i - max - lse}, float), the base side of a compare when the
     * reference is a model rather than a logits file. Returns the base NLL of {@code tok} in the same arithmetic.
     */
    public static float exactLogProbs(float[] l, int off, int n, int tok, float[] out, int outOff) {
        float max = l[off];
        for (int i = 1; i < n; i++) max = Math.max(max, l[off + i]);
        double sumExp = 0;
        for (int i = 0; i < n; i++) sumExp += (float) Math.exp(l[off + i] - max);
        float shift = max + (float) Math.log(sumExp);
        for (int i = 0; i < n; i++) out[outOff + i] = l[off + i] - shift;
        return shift - l[off + tok];
    }
}
