package dev.requant.formats.ggml;

class Q8_0CodecTest extends BlockCodecContract {
    @Override GgmlType type() { return GgmlType.Q8_0; }

    @Override double blockRelativeError() { return 0.005; }
}
