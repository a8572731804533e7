package dev.requant.formats.ggml;

class IQ3_SCodecTest extends BlockCodecContract {
    @Override GgmlType type() { return GgmlType.IQ3_S; }

    @Override double blockRelativeError() { return 0.5; }
}
