package dev.requant.formats.ggml;

class IQ3_XXSCodecTest extends BlockCodecContract {
    @Override GgmlType type() { return GgmlType.IQ3_XXS; }

    @Override double blockRelativeError() { return 0.75; } // an odd count of minus signs costs the smallest element its sign
}
