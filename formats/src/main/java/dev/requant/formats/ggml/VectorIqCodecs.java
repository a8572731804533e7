package dev.requant.formats.ggml;

import java.util.Map;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector API decode of the IQ1/IQ2/IQ3 codecs: {@link IqGroups}' writes, 8 lanes per group of an 8-element grid
 * point, two 4-lane halves where IQ3's groups are two 4-element points. The lanes do what the scalar write does
 * (one multiply, then a sign flip or, for IQ1, an add before the multiply), so the floats are the same bits.
 * Encoding stays scalar. Only loaded when {@link VectorSupport} says the module is there.
 */
final class VectorIqCodecs {
    private VectorIqCodecs() {}

    private static final VectorSpecies<Float> F8 = FloatVector.SPECIES_256, F4 = FloatVector.SPECIES_128;

    static void register(Map<GgmlType, BlockCodec> codecs) {
        codecs.put(GgmlType.IQ2_XXS, new FastIQ2_XXS());
        codecs.put(GgmlType.IQ2_XS, new FastIQ2_XS());
        codecs.put(GgmlType.IQ2_S, new FastIQ2_S());
        codecs.put(GgmlType.IQ3_XXS, new FastIQ3_XXS());
        codecs.put(GgmlType.IQ3_S, new FastIQ3_S());
        codecs.put(GgmlType.IQ1_S, new FastIQ1_S());
        codecs.put(GgmlType.IQ1_M, new FastIQ1_M());
    }

    /** Signed write of 8-element points: lo and hi of a group are 4 apart. */
    static void writeSigned8(IqGroups g, float[] values, float[] dst, int y) {
        for (int k = 0; k < 32; k++, y += 8) {
            FloatVector v = FloatVector.fromArray(F8, values, g.lo[k]).mul(g.scale[k]);
            v.lanewise(VectorOperators.NEG, VectorMask.fromLong(F8, g.signs[k])).intoArray(dst, y);
        }
    }

    /** Signed write of two 4-element points per group (IQ3). */
    static void writeSigned4(IqGroups g, float[] values, float[] dst, int y) {
        for (int k = 0; k < 32; k++, y += 8) {
            float s = g.scale[k];
            int sg = g.signs[k];
            FloatVector.fromArray(F4, values, g.lo[k]).mul(s).lanewise(VectorOperators.NEG, VectorMask.fromLong(F4, sg & 15)).intoArray(dst, y);
            FloatVector.fromArray(F4, values, g.hi[k]).mul(s).lanewise(VectorOperators.NEG, VectorMask.fromLong(F4, sg >> 4)).intoArray(dst, y + 4);
        }
    }

    /** IQ1's {@code scale * (value + delta)}. */
    static void writeShifted8(IqGroups g, float[] values, float[] dst, int y) {
        for (int k = 0; k < 32; k++, y += 8) {
            FloatVector.fromArray(F8, values, g.lo[k]).add(g.delta[k]).mul(g.scale[k]).intoArray(dst, y);
        }
    }

    static final class FastIQ2_XXS extends IQ2_XXSCodec {
        @Override void write(IqGroups g, float[] values, float[] dst, int y) { writeSigned8(g, values, dst, y); }
    }

    static final class FastIQ2_XS extends IQ2_XSCodec {
        @Override void write(IqGroups g, float[] values, float[] dst, int y) { writeSigned8(g, values, dst, y); }
    }

    static final class FastIQ2_S extends IQ2_SCodec {
        @Override void write(IqGroups g, float[] values, float[] dst, int y) { writeSigned8(g, values, dst, y); }
    }

    static final class FastIQ3_XXS extends IQ3_XXSCodec {
        @Override void write(IqGroups g, float[] values, float[] dst, int y) { writeSigned4(g, values, dst, y); }

        @Override
        float searchScale(float[] xval, float[] weight, float[] waux, float max, IqSearch.Trial t) {
            if (!VectorIq3Search.supported()) return super.searchScale(xval, weight, waux, max, t);
            return VectorIq3Search.searchScale(VectorIq3Search.Lanes.iq3xxs(), xval, weight, waux, max, 15, 0.2f, false, t,
                    VectorIq3Search.scratch());
        }
    }

    static final class FastIQ3_S extends IQ3_SCodec {
        @Override void write(IqGroups g, float[] values, float[] dst, int y) { writeSigned4(g, values, dst, y); }

        @Override
        float searchScale(float[] xval, float[] weight, float[] waux, float max, IqSearch.Trial t) {
            if (!VectorIq3Search.supported()) return super.searchScale(xval, weight, waux, max, t);
            return VectorIq3Search.searchScale(VectorIq3Search.Lanes.iq3s(), xval, weight, waux, max, 9, 0.2f, true, t,
                    VectorIq3Search.scratch());
        }
    }

    static final class FastIQ1_S extends IQ1_SCodec {
        @Override void write(IqGroups g, float[] values, float[] dst, int y) { writeShifted8(g, values, dst, y); }
    }

    static final class FastIQ1_M extends IQ1_MCodec {
        @Override void write(IqGroups g, float[] values, float[] dst, int y) { writeShifted8(g, values, dst, y); }
    }
}
