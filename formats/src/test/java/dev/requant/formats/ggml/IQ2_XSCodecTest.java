package dev.requant.formats.ggml;

class IQ2_XSCodecTest extends BlockCodecContract {
    @Override GgmlType type() { return GgmlType.IQ2_XS; }

    @Override double blockRelativeError() { return 0.75; }
}
