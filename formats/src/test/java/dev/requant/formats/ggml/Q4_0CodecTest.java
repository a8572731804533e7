package dev.requant.formats.ggml;

class Q4_0CodecTest extends BlockCodecContract {
    @Override GgmlType type() { return GgmlType.Q4_0; }

    @Override double blockRelativeError() { return 0.13; } // d = signed extremum/-8: the opposite side clamps at +7, up to amax/8 off
}
