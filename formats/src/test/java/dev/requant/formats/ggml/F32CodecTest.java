package dev.requant.formats.ggml;

class F32CodecTest extends BlockCodecContract {
    @Override GgmlType type() { return GgmlType.F32; }

    @Override double blockRelativeError() { return 0; }
}
