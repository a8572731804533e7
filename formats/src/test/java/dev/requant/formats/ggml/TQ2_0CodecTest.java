package dev.requant.formats.ggml;

class TQ2_0CodecTest extends BlockCodecContract {
    @Override GgmlType type() { return GgmlType.TQ2_0; }

    @Override double blockRelativeError() { return 0.505; }
}
