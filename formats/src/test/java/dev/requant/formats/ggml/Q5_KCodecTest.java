package dev.requant.formats.ggml;

class Q5_KCodecTest extends BlockCodecContract {
    @Override GgmlType type() { return GgmlType.Q5_K; }

    @Override double blockRelativeError() { return 0.06; }
}
