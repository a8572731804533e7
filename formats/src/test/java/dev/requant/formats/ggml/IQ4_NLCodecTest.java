package dev.requant.formats.ggml;

class IQ4_NLCodecTest extends BlockCodecContract {
    @Override GgmlType type() { return GgmlType.IQ4_NL; }

    @Override double blockRelativeError() { return 0.12; }
}
