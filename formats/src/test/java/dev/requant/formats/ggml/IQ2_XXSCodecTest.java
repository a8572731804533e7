package dev.requant.formats.ggml;

class IQ2_XXSCodecTest extends BlockCodecContract {
    @Override GgmlType type() { return GgmlType.IQ2_XXS; }

    @Override double blockRelativeError() { return 0.75; }
}
