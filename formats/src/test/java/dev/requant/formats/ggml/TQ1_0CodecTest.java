package dev.requant.formats.ggml;

class TQ1_0CodecTest extends BlockCodecContract {
    @Override GgmlType type() { return GgmlType.TQ1_0; }

    @Override double blockRelativeError() { return 0.505; }
}
