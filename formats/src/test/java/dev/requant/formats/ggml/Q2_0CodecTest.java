package dev.requant.formats.ggml;

class Q2_0CodecTest extends BlockCodecContract {
    @Override GgmlType type() { return GgmlType.Q2_0; }

    @Override double blockRelativeError() { return 0.505; }
}
