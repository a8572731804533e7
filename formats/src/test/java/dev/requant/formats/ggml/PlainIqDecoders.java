package dev.requant.formats.ggml;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;

/**
 * The IQ dequantizers of ggml-quants.c (dequantize_row_iq*) written plainly, sharing no code with the codecs: the grids
 * are rebuilt here from the kgrid_* codes of iq-grids.txt into the form of ggml-common.h's tables (one uint64 or
 * uint32 per point, one byte per element), which {@link IqGridTest} checks against the SHA-256 of those tables.
 */
final class PlainIqDecoders {
    private PlainIqDecoders() {}

    static final long[] IQ2XXS_GRID = grid8("kgrid_2bit_256", new int[] {0x08, 0x19, 0x2b});
    static final long[] IQ2XS_GRID = grid8("kgrid_2bit_512", new int[] {0x08, 0x19, 0x2b});
    static final long[] IQ2S_GRID = grid8("kgrid_2bit_1024", new int[] {0x08, 0x19, 0x2b});
    static final long[] IQ1S_GRID = grid8("kgrid_1bit_2048", new int[] {0xff, 0x00, 0x01});
    static final int[] IQ3XXS_GRID = grid4("kgrid_256", new int[] {0x04, 0x0c, 0x14, 0x1c, 0x24, 0x2c, 0x34, 0x3e});
    static final int[] IQ3S_GRID = grid4("kgrid_512", new int[] {0x01, 0x03, 0x05, 0x07, 0x09, 0x0b, 0x0d, 0x0f});
    /** ksigns_iq2xs: i with bit 7 set when i has an odd number of bits. */
    static final int[] KSIGNS = new int[128];

    static {
        for (int i = 0; i < 128; i++) KSIGNS[i] = Integer.bitCount(i) % 2 == 1 ? i | 128 : i;
    }

    static int u8(byte[] b, int i) { return b[i] & 0xFF; }

    static int u16(byte[] b, int i) { return u8(b, i) | u8(b, i + 1) << 8; }

    static long u32(byte[] b, int i) { return u16(b, i) | (long) u16(b, i + 2) << 16; }

    static float half(byte[] b, int i) { return Float.float16ToFloat((short) u16(b, i)); }

    static int gridByte(long[] grid, int index, int j) { return (int) (grid[index] >>> (8 * j)) & 0xFF; }

    static int gridByte(int[] grid, int index, int j) { return (grid[index] >>> (8 * j)) & 0xFF; }

    static float sign(int signs, int j) { return (signs & (1 << j)) != 0 ? -1f : 1f; }

    static float[] block(GgmlType type, byte[] b, int o) {
        float[] y = new float[256];
        switch (type) {
            case IQ2_XXS -> {
                float d = half(b, o);
                for (int ib = 0; ib < 8; ib++) {
                    long aux0 = u32(b, o + 2 + 8 * ib), aux1 = u32(b, o + 2 + 8 * ib + 4);
                    float db = d * (0.5f + (aux1 >> 28)) * 0.25f;
                    for (int l = 0; l < 4; l++) {
                        int index = (int) (aux0 >> (8 * l)) & 0xFF;
                        int signs = KSIGNS[(int) (aux1 >> (7 * l)) & 127];
                        for (int j = 0; j < 8; j++) y[32 * ib + 8 * l + j] = db * gridByte(IQ2XXS_GRID, index, j) * sign(signs, j);
                    }
                }
            }
            case IQ2_XS -> {
                float d = half(b, o);
                for (int ib = 0; ib < 8; ib++) {
                    int sc = u8(b, o + 66 + ib);
                    float[] db = {d * (0.5f + (sc & 0xf)) * 0.25f, d * (0.5f + (sc >> 4)) * 0.25f};
                    for (int l = 0; l < 4; l++) {
                        int q = u16(b, o + 2 + 2 * (4 * ib + l));
                        int signs = KSIGNS[q >> 9];
                        for (int j = 0; j < 8; j++) y[32 * ib + 8 * l + j] = db[l / 2] * gridByte(IQ2XS_GRID, q & 511, j) * sign(signs, j);
                    }
                }
            }
            case IQ2_S -> {
                float d = half(b, o);
                for (int ib = 0; ib < 8; ib++) {
                    int sc = u8(b, o + 74 + ib);
                    float[] db = {d * (0.5f + (sc & 0xf)) * 0.25f, d * (0.5f + (sc >> 4)) * 0.25f};
                    int qh = u8(b, o + 66 + ib);
                    for (int l = 0; l < 4; l++) {
                        int index = u8(b, o + 2 + 4 * ib + l) | (qh << (8 - 2 * l) & 0x300);
                        int signs = u8(b, o + 2 + 32 + 4 * ib + l);
                        for (int j = 0; j < 8; j++) y[32 * ib + 8 * l + j] = db[l / 2] * gridByte(IQ2S_GRID, index, j) * sign(signs, j);
                    }
                }
            }
            case IQ3_XXS -> {
                float d = half(b, o);
                for (int ib = 0; ib < 8; ib++) {
                    long aux = u32(b, o + 2 + 64 + 4 * ib);
                    float db = d * (0.5f + (aux >> 28)) * 0.5f;
                    for (int l = 0; l < 4; l++) {
                        int signs = KSIGNS[(int) (aux >> (7 * l)) & 127];
                        int g1 = u8(b, o + 2 + 8 * ib + 2 * l), g2 = u8(b, o + 2 + 8 * ib + 2 * l + 1);
                        for (int j = 0; j < 4; j++) {
                            y[32 * ib + 8 * l + j] = db * gridByte(IQ3XXS_GRID, g1, j) * sign(signs, j);
                            y[32 * ib + 8 * l + j + 4] = db * gridByte(IQ3XXS_GRID, g2, j) * sign(signs, j + 4);
                        }
                    }
                }
            }
            case IQ3_S -> {
                float d = half(b, o);
                for (int ib = 0; ib < 8; ib++) {
                    int sc = u8(b, o + 106 + ib / 2);
                    float db = d * (1 + 2 * (ib % 2 == 0 ? sc & 0xf : sc >> 4));
                    int qh = u8(b, o + 66 + ib);
                    for (int l = 0; l < 4; l++) {
                        int g1 = u8(b, o + 2 + 8 * ib + 2 * l) | ((qh << (8 - 2 * l)) & 256);
                        int g2 = u8(b, o + 2 + 8 * ib + 2 * l + 1) | ((qh << (7 - 2 * l)) & 256);
                        int signs = u8(b, o + 74 + 4 * ib + l);
                        for (int j = 0; j < 4; j++) {
                            y[32 * ib + 8 * l + j] = db * gridByte(IQ3S_GRID, g1, j) * sign(signs, j);
                            y[32 * ib + 8 * l + j + 4] = db * gridByte(IQ3S_GRID, g2, j) * sign(signs, j + 4);
                        }
                    }
                }
            }
            case IQ1_S -> {
                float d = half(b, o);
                for (int ib = 0; ib < 8; ib++) {
                    int qh = u16(b, o + 34 + 2 * ib);
                    float dl = d * (2 * ((qh >> 12) & 7) + 1);
                    float delta = (qh & 0x8000) != 0 ? -0.125f : 0.125f;
                    for (int l = 0; l < 4; l++) {
                        int index = u8(b, o + 2 + 4 * ib + l) | (((qh >> (3 * l)) & 7) << 8);
                        for (int j = 0; j < 8; j++) y[32 * ib + 8 * l + j] = dl * ((byte) gridByte(IQ1S_GRID, index, j) + delta);
                    }
                }
            }
            case IQ1_M -> {
                int[] sc = {u16(b, o + 48), u16(b, o + 50), u16(b, o + 52), u16(b, o + 54)};
                int bits = (sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) | ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000);
                float d = Float.float16ToFloat((short) bits);
                for (int ib = 0; ib < 8; ib++) {
                    float dl1 = d * (2 * ((sc[ib / 2] >> (6 * (ib % 2))) & 0x7) + 1);
                    float dl2 = d * (2 * ((sc[ib / 2] >> (6 * (ib % 2) + 3)) & 0x7) + 1);
                    int qh0 = u8(b, o + 32 + 2 * ib), qh1 = u8(b, o + 32 + 2 * ib + 1);
                    int[] index = {u8(b, o + 4 * ib) | ((qh0 << 8) & 0x700), u8(b, o + 4 * ib + 1) | ((qh0 << 4) & 0x700),
                            u8(b, o + 4 * ib + 2) | ((qh1 << 8) & 0x700), u8(b, o + 4 * ib + 3) | ((qh1 << 4) & 0x700)};
                    float[] delta = {(qh0 & 0x08) != 0 ? -0.125f : 0.125f, (qh0 & 0x80) != 0 ? -0.125f : 0.125f,
                            (qh1 & 0x08) != 0 ? -0.125f : 0.125f, (qh1 & 0x80) != 0 ? -0.125f : 0.125f};
                    for (int l = 0; l < 4; l++) {
                        float dl = l < 2 ? dl1 : dl2;
                        for (int j = 0; j < 8; j++) y[32 * ib + 8 * l + j] = dl * ((byte) gridByte(IQ1S_GRID, index[l], j) + delta[l]);
                    }
                }
            }
            default -> throw new IllegalArgumentException(type.toString());
        }
        return y;
    }

    private static long[] grid8(String table, int[] byteOfLevel) {
        short[] codes = codes().get(table);
        long[] g = new long[codes.length];
        for (int k = 0; k < codes.length; k++) {
            for (int i = 0; i < 8; i++) g[k] |= (long) byteOfLevel[(codes[k] >> (2 * i)) & 3] << (8 * i);
        }
        return g;
    }

    private static int[] grid4(String table, int[] byteOfLevel) {
        short[] codes = codes().get(table);
        int[] g = new int[codes.length];
        for (int k = 0; k < codes.length; k++) {
            for (int i = 0; i < 4; i++) g[k] |= byteOfLevel[(codes[k] >> (3 * i)) & 7] << (8 * i);
        }
        return g;
    }

    private static Map<String, short[]> codes;

    private static synchronized Map<String, short[]> codes() {
        if (codes != null) return codes;
        try (InputStream in = PlainIqDecoders.class.getResourceAsStream("/dev/requant/formats/ggml/iq-grids.txt")) {
            Map<String, short[]> m = new HashMap<>();
            String name = null;
            java.util.List<Short> values = new java.util.ArrayList<>();
            for (String line : (new String(in.readAllBytes(), StandardCharsets.US_ASCII) + "\nend 0\n").split("\n")) {
                if (line.isBlank() || line.startsWith("#")) continue;
                if (Character.isLetter(line.charAt(0))) {
                    if (name != null) {
                        short[] a = new short[values.size()];
                        for (int i = 0; i < a.length; i++) a[i] = values.get(i);
                        m.put(name, a);
                    }
                    name = line.split(" ")[0];
                    values.clear();
                } else {
                    for (String v : line.trim().split(" +")) values.add((short) Integer.parseInt(v));
                }
            }
            return codes = m;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
