package dev.requant.formats.ggml;

class Q5_0CodecTest extends BlockCodecContract {
    @Override GgmlType type() { return GgmlType.Q5_0; }

    @Override double blockRelativeError() { return 0.065; } // as Q4_0: the side opposite the extremum clamps at +15
}
