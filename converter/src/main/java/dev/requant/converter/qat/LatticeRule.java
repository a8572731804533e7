package dev.requant.converter.qat;

/** How a recovered block's scale relates to its values: which QAT scale rule the block is consistent with. */
public enum LatticeRule {
    /** d = (signed extremum) / -8: the extreme element has code -8 (llama.cpp's and mlx's Q4_0 rule). */
    SIGNED_MAX_OVER_NEG8("max/-8"),
    /** d = absmax / 7: the extreme element has code +-7 (a symmetric +-7 grid). */
    ABSMAX_OVER_7("absmax/7"),
    /** Q8_0: d = absmax / 127, the extreme element has code +-127 (llama.cpp's Q8_0 rule and 8-bit QAT's). */
    ABSMAX_OVER_127("absmax/127"),
    /** The extreme element has a smaller code: a learned scale. */
    LEARNED("learned"),
    /** Every value is zero: any scale fits. */
    ZERO("zero");

    private final String label;

    LatticeRule(String label) { this.label = label; }

    public String label() { return label; }
}
