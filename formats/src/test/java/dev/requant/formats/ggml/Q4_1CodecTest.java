package dev.requant.formats.ggml;

class Q4_1CodecTest extends BlockCodecContract {
    @Override GgmlType type() { return GgmlType.Q4_1; }

    @Override double blockRelativeError() { return 0.075; }
}
