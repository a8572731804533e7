package dev.requant.formats.ggml;

class Q2_KCodecTest extends BlockCodecContract {
    @Override GgmlType type() { return GgmlType.Q2_K; }

    @Override double blockRelativeError() { return 0.4; }
}
