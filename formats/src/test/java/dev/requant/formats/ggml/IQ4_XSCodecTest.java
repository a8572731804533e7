package dev.requant.formats.ggml;

class IQ4_XSCodecTest extends BlockCodecContract {
    @Override GgmlType type() { return GgmlType.IQ4_XS; }

    @Override double blockRelativeError() { return 0.15; }
}
