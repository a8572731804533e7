package dev.requant.formats.ggml;

class Q3_KCodecTest extends BlockCodecContract {
    @Override GgmlType type() { return GgmlType.Q3_K; }

    @Override double blockRelativeError() { return 0.2; }
}
