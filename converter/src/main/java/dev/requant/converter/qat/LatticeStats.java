package dev.requant.converter.qat;

import java.util.EnumMap;
import java.util.Map;

/**
 * How well a tensor (or a set of tensors) sits on a Q4_0 (or, counted apart, a Q8_0) lattice: exact blocks, the scale rule they follow, whether
 * BF16 scales reproduce them, and the largest error of the inexact ones. Mergeable, so threads count separately.
 */
public final class LatticeStats {
    /**
     * A tensor is treated as QAT-aligned at or above this exact-block fraction. Not 0.99: when training held its scales
     * in FP32, only about 97% of blocks have any F16 scale that reproduces them (Q4_0 stores F16), while weights that
     * were never on a lattice give almost no exact blocks, so 0.9 separates the two with room on both sides.
     */
    public static final double ALIGNED = 0.90;

    private long blocks;
    private long exact;
    private long bf16Scale;
    private long zeroSignMismatches;
    private final long[] rules = new long[LatticeRule.values().length];
    /** Exact non-zero blocks by |code| of their extreme element (index 1..8). */
    private final long[] extremeCodes = new long[9];
    private double maxAbsError;

    public void add(Q4_0Lattice l) {
        blocks++;
        if (l.exact()) {
            exact++;
            rules[l.rule().ordinal()]++;
            extremeCodes[l.extremeCode()]++;
            if (l.bf16Scale()) bf16Scale++;
        } else {
            maxAbsError = Math.max(maxAbsError, l.maxAbsError());
        }
        zeroSignMismatches += l.zeroSignMismatches();
    }

    /**
     * Counts a batch of blocks solved exactly with scales held in BF16 (as {@link #add(Q4_0Lattice)} would count each):
     * those of the set bits j of {@code lanes}, block j with extreme code {@code extremeCodes[j]}. Once a batch, not once
     * a block: five counters bumped for every block were a twentieth of the encoders' time.
     */
    void addBf16Exact(long lanes, int[] extremeCodes) {
        int n = Long.bitCount(lanes);
        blocks += n;
        exact += n;
        bf16Scale += n;
        for (long m = lanes; m != 0; m &= m - 1) {
            int k = extremeCodes[Long.numberOfTrailingZeros(m)];
            this.extremeCodes[k]++;
            rules[Q4_0Lattice.RULE_OF_EXTREME_CODE[k].ordinal()]++;
        }
    }

    /** Counts one Q8_0 block ({@link #dominantRule} then reports absmax/127 when most exact blocks follow it). */
    public void add(Q8_0Lattice l) {
        blocks++;
        if (l.exact()) {
            exact++;
            rules[l.rule().ordinal()]++;
            if (l.bf16Scale()) bf16Scale++;
        } else {
            maxAbsError = Math.max(maxAbsError, l.maxAbsError());
        }
    }

    public synchronized void merge(LatticeStats o) {
        blocks += o.blocks;
        exact += o.exact;
        bf16Scale += o.bf16Scale;
        zeroSignMismatches += o.zeroSignMismatches;
        for (int i = 0; i < rules.length; i++) rules[i] += o.rules[i];
        for (int i = 0; i < extremeCodes.length; i++) extremeCodes[i] += o.extremeCodes[i];
        maxAbsError = Math.max(maxAbsError, o.maxAbsError);
    }

    public long blocks() { return blocks; }

    public long exactBlocks() { return exact; }

    public long inexactBlocks() { return blocks - exact; }

    public double exactFraction() { return blocks == 0 ? 0 : (double) exact / blocks; }

    public boolean aligned() { return blocks > 0 && exactFraction() >= ALIGNED; }

    /**
     * The scale rule of the tensor, from where its blocks put their extreme element: always at code 8 (-8) means
     * d = extremum/-8, always at 7 means d = absmax/7, a spread means the scale was learned. ZERO when no exact block
     * has a non-zero value.
     */
    public LatticeRule dominantRule() {
        long q8 = rules[LatticeRule.ABSMAX_OVER_127.ordinal()];
        if (q8 > 0) return q8 >= 0.98 * (exact - rules[LatticeRule.ZERO.ordinal()]) ? LatticeRule.ABSMAX_OVER_127 : LatticeRule.LEARNED;
        long nonzero = 0;
        for (int k = 1; k <= 8; k++) nonzero += extremeCodes[k];
        if (nonzero == 0) return LatticeRule.ZERO;
        if (extremeCodes[8] >= 0.98 * nonzero) return LatticeRule.SIGNED_MAX_OVER_NEG8;
        if (extremeCodes[7] >= 0.98 * nonzero) return LatticeRule.ABSMAX_OVER_7;
        return LatticeRule.LEARNED;
    }

    /** Exact non-zero blocks whose extreme element has |code| k, for k in 1..8. */
    public long extremeCodeCount(int k) { return extremeCodes[k]; }

    public Map<LatticeRule, Long> ruleCounts() {
        Map<LatticeRule, Long> m = new EnumMap<>(LatticeRule.class);
        for (LatticeRule r : LatticeRule.values()) m.put(r, rules[r.ordinal()]);
        return m;
    }

    /**
     * The precision the QAT scales were held in, as far as the exact blocks tell: "bf16" when BF16 values reproduce
     * nearly all of them (an FP32 scale does so only by chance, for a small fraction), "fp32" otherwise.
     */
    public String scaleDtype() {
        if (exact == 0) return "-";
        return bf16Scale >= 0.95 * exact ? "bf16" : "fp32";
    }

    public long zeroSignMismatches() { return zeroSignMismatches; }

    /** Largest |dequantized - stored| over inexact blocks (0 when every block is exact). */
    public double maxAbsError() { return maxAbsError; }
}
