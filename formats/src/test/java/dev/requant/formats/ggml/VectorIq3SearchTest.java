package dev.requant.formats.ggml;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The vector-lane scale search of IQ3_S and IQ3_XXS against the scalar one ({@link IqSearch#searchScale}): the same
 * scale bits and levels for sub-blocks built to reach every branch (ties between neighbours, NaN distances from
 * overflowing trial scales against zero weights, NaN and Inf magnitudes, negative magnitudes as IQ3_XXS's sign step
 * leaves one, zero and negative weights, subnormals), and the fast codecs' bytes against the scalar codecs' on whole
 * rows, with and without importance.
 */
class VectorIq3SearchTest {

    @BeforeEach
    void vectorApi() {
        Assumptions.assumeTrue(VectorSupport.enabled() && VectorIq3Search.supported(), "no Vector API: only the scalar search runs");
    }

    /** The two searches' parameters, as the codecs pass them. */
    enum Grid {
        IQ3_S(IqGrid.IQ3_S, 9, true), IQ3_XXS(IqGrid.IQ3_XXS, 15, false);

        final IqGrid grid;
        final int steps;
        final boolean researchAll;

        Grid(IqGrid grid, int steps, boolean researchAll) {
            this.grid = grid;
            this.steps = steps;
            this.researchAll = researchAll;
        }

        VectorIq3Search.Lanes lanes() {
            return this == IQ3_S ? VectorIq3Search.Lanes.iq3s() : VectorIq3Search.Lanes.iq3xxs();
        }
    }

    @ParameterizedTest
    @EnumSource(Grid.class)
    void searchGivesTheScalarScaleAndLevels(Grid grid) {
        SplittableRandom r = new SplittableRandom(31 + grid.ordinal());
        float[] xval = new float[32], weight = new float[32], waux = new float[32];
        IqSearch.Trial scalar = new IqSearch.Trial(), vector = new IqSearch.Trial();
        VectorIq3Search.Scratch scratch = VectorIq3Search.scratch();
        int[] kinds = new int[KINDS];
        for (int rep = 0; rep < 30_000; rep++) {
            int kind = rep % KINDS;
            subBlock(r, kind, xval, weight, waux);
            float max = xval[0];
            for (int i = 1; i < 32; i++) max = IqSearch.max(max, xval[i]);
            float want = IqSearch.searchScale(grid.grid, 32, xval, weight, waux, max, grid.steps, 0.2f, grid.researchAll, scalar);
            float got = VectorIq3Search.searchScale(grid.lanes(), xval, weight, waux, max, grid.steps, 0.2f, grid.researchAll, vector,
                    scratch);
            String what = grid + " rep " + rep + " kind " + kind;
            assertThat(Float.floatToRawIntBits(got)).as("%s: scale %s vs %s", what, got, want).isEqualTo(Float.floatToRawIntBits(want));
            assertThat(vector.L).as(what).isEqualTo(scalar.L);
            if (want == want && want != 0) kinds[kind]++;
        }
        for (int kind = 0; kind < KINDS; kind++) assertThat(kinds[kind]).as("kind %d gave a number", kind).isPositive();
    }

    private static final int KINDS = 10;

    /** One sub-block of magnitudes and weights of the given kind; waux = sqrt(weight) as the codecs make it. */
    private static void subBlock(SplittableRandom r, int kind, float[] xval, float[] weight, float[] waux) {
        double scale = Math.pow(10, r.nextInt(-8, 4));
        float level = (float) (scale * (1 + r.nextInt(7)));
        for (int i = 0; i < 32; i++) {
            float x = (float) Math.abs(r.nextGaussian() * scale);
            float w = (float) Math.exp(2 * r.nextGaussian());
            switch (kind) {
                case 1 -> w = r.nextInt(4) == 0 ? 0f : w; // zero weights
                case 2 -> { x = level; w = 1; } // every magnitude alike: neighbours tie
                case 3 -> { x = (float) (scale * r.nextInt(16)); w = 1 + r.nextInt(2); } // on the positions: exact ties
                case 4 -> { // near FLT_MAX: the high trial scales (and the refitted one) times 15 overflow to Inf, so
                    // that in groups of zero weights the neighbours with a level 7 have NaN distances and the others 0;
                    // tiny weights elsewhere keep the sums finite
                    x = i % 8 == 0 ? 3.3e38f : (float) ((0.3 + 0.7 * r.nextDouble()) * 3.3e38);
                    w = (i / 4) % 2 == 0 ? 0f : 1e-20f;
                }
                case 5 -> x = r.nextInt(40) == 0 ? (r.nextBoolean() ? Float.NaN : Float.POSITIVE_INFINITY) : x;
                case 6 -> x = i == r.nextInt(32) ? -x : x; // IQ3_XXS's odd sign flips one back
                case 7 -> w = r.nextInt(8) == 0 ? (r.nextBoolean() ? -0f : -w) : w; // -0 and negative weights
                case 8 -> x = Float.intBitsToFloat(r.nextInt(1, 0x800000)); // subnormal
                case 9 -> { x = r.nextInt(200) == 0 ? x * 50 : x; w = r.nextInt(30) == 0 ? Float.POSITIVE_INFINITY : w; }
                default -> { }
            }
            xval[i] = x;
            weight[i] = w;
            waux[i] = (float) Math.sqrt(w);
        }
    }

    @ParameterizedTest
    @EnumSource(names = {"IQ3_S", "IQ3_XXS"})
    void fastCodecGivesTheReferenceBytes(GgmlType type) {
        BlockCodec fast = BlockCodec.of(type), ref = BlockCodec.reference(type);
        assertThat(fast.getClass().getEnclosingClass()).isEqualTo(VectorIqCodecs.class);
        SplittableRandom r = new SplittableRandom(type.id());
        for (int superBlocks : new int[] {1, 2, 3, 8}) {
            int n = superBlocks * 256;
            for (int rep = 0; rep < 24; rep++) {
                float[] x = rep % 2 == 0 ? VectorLowBitCodecsTest.awkward(r, n + 3, rep % 4 == 2) : modelLike(r, n + 3);
                VectorLowBitCodecsTest.assertEncodesAlike(fast, ref, type, x, n, VectorLowBitCodecsTest.importance(r, n, rep),
                        type + ", " + superBlocks + " super-blocks, rep " + rep);
            }
        }
    }

    /** Gaussian with a per-row scale and 0.5% outliers, as SyntheticGguf's rows. */
    private static float[] modelLike(SplittableRandom r, int n) {
        float[] x = new float[n];
        double scale = 0.02 * Math.exp(r.nextGaussian() * 0.5);
        for (int i = 0; i < n; i++) x[i] = BFloat16.round((float) (r.nextGaussian() * scale * (r.nextInt(200) == 0 ? 6 : 1)));
        return x;
    }
}
