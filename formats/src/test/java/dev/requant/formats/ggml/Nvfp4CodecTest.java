package dev.requant.formats.ggml;

class Nvfp4CodecTest extends BlockCodecContract {
    @Override GgmlType type() { return GgmlType.NVFP4; }

    @Override double blockRelativeError() { return 0.2; }

    @Override double importanceSlack() { return 1.0; } // the imatrix is ignored
}
