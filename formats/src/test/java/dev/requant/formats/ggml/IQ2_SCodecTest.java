package dev.requant.formats.ggml;

class IQ2_SCodecTest extends BlockCodecContract {
    @Override GgmlType type() { return GgmlType.IQ2_S; }

    @Override double blockRelativeError() { return 0.75; }
}
