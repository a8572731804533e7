package dev.requant.formats.ggml;

class Mxfp4CodecTest extends BlockCodecContract {
    @Override GgmlType type() { return GgmlType.MXFP4; }

    @Override double blockRelativeError() { return 0.26; }

    @Override double importanceSlack() { return 1.0; } // the imatrix is ignored
}
