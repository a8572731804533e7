package dev.requant.formats.ggml;

class Q5_1CodecTest extends BlockCodecContract {
    @Override GgmlType type() { return GgmlType.Q5_1; }

    @Override double blockRelativeError() { return 0.04; }
}
