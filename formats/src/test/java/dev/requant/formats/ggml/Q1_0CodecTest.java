package dev.requant.formats.ggml;

class Q1_0CodecTest extends BlockCodecContract {
    @Override GgmlType type() { return GgmlType.Q1_0; }

    @Override double blockRelativeError() { return 1.001; }
}
