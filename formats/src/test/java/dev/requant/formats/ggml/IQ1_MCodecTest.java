package dev.requant.formats.ggml;

class IQ1_MCodecTest extends BlockCodecContract {
    @Override GgmlType type() { return GgmlType.IQ1_M; }

    @Override double blockRelativeError() { return 1.25; } // the grid can force a level on an element whose neighbours set the scale
}
