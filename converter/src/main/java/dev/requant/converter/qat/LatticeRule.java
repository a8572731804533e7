package dev.requant.converter.qat;

/** How a recovered block's scale relates to its values: which QAT scale rule the block is consistent with. */
public enum LatticeRule {
    /** d = (signed extremum) / -8: the extreme element has code -8 (llama.cpp's and mlx's Q4_0 rule). */
    SIGNED_MAX_OVER_NEG8("max/-8"),
    /** d = absmax / 7: the extreme element has code +-7 (a symmetric +-7 grid). */
    ABSMAX_OVER_7("absmax/7"),
    /** The extreme element has a smaller code: a learned scale. */
    LEARNED("learned"),
    /** Every value is zero: any scale fits. */
    ZERO("zero");

    private final String label;

    LatticeRule(String label) { this.label = label; }

    public String label() { return label; }
}
