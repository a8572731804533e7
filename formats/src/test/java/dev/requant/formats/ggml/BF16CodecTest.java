package dev.requant.formats.ggml;

class BF16CodecTest extends BlockCodecContract {
    @Override GgmlType type() { return GgmlType.BF16; }

    @Override double blockRelativeError() { return 0x1p-8; }
}
