package dev.requant.formats.ggml;

/**
 * The value tables of ggml-common.h's IQ grids ({@code iq2xxs_grid}, {@code iq2xs_grid}, {@code iq2s_grid},
 * {@code iq3xxs_grid}, {@code iq3s_grid}, {@code iq1s_grid}) as their bytes, one per element, point after point: for
 * decoders outside this package (the CUDA kernels), which must read the same points as {@link IqGrid}.
 */
public final class IqGridValues {
    private IqGridValues() {}

    /**
     * The grid {@code type} decodes through, one byte per element ({@link #dims} per point): unsigned levels for
     * IQ2/IQ3, -1/0/1 for IQ1_S and IQ1_M (which share iq1s_grid).
     *
     * @throws IllegalArgumentException for a type without a grid
     */
    public static byte[] of(GgmlType type) {
        IqGrid g = grid(type);
        byte[] out = new byte[g.values.length];
        for (int i = 0; i < out.length; i++) out[i] = (byte) g.values[i];
        return out;
    }

    /** Elements per grid point of {@code type}: 8 (IQ1, IQ2) or 4 (IQ3). */
    public static int dims(GgmlType type) { return grid(type).dims; }

    private static IqGrid grid(GgmlType type) {
        return switch (type) {
            case IQ2_XXS -> IqGrid.IQ2_XXS;
            case IQ2_XS -> IqGrid.IQ2_XS;
            case IQ2_S -> IqGrid.IQ2_S;
            case IQ3_XXS -> IqGrid.IQ3_XXS;
            case IQ3_S -> IqGrid.IQ3_S;
            case IQ1_S, IQ1_M -> IqGrid.IQ1;
            default -> throw new IllegalArgumentException(type.ggmlName() + " has no IQ grid");
        };
    }
}
