package dev.requant.formats.ggml;

class F16CodecTest extends BlockCodecContract {
    @Override GgmlType type() { return GgmlType.F16; }

    @Override double blockRelativeError() { return 0x1p-11; }

    @Override double absoluteError() { return 0x1p-25; } // half the smallest fp16 subnormal
}
