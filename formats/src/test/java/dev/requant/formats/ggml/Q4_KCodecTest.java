package dev.requant.formats.ggml;

class Q4_KCodecTest extends BlockCodecContract {
    @Override GgmlType type() { return GgmlType.Q4_K; }

    @Override double blockRelativeError() { return 0.12; }
}
