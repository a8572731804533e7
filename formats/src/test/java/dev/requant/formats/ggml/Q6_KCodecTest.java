package dev.requant.formats.ggml;

class Q6_KCodecTest extends BlockCodecContract {
    @Override GgmlType type() { return GgmlType.Q6_K; }

    @Override double blockRelativeError() { return 0.03; }
}
