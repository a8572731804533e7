package dev.requant.testmodels;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A numpy {@code .npy} file of little-endian float32 in C order (format versions 1-3), e.g. the golden
 * {@code *.logits.npy}: magic "\x93NUMPY", version, header length, a Python-dict header with descr/fortran_order/shape.
 */
public record NpyArray(long[] shape, float[] data) {
    private static final Pattern DESCR = Pattern.compile("'descr'\\s*:\\s*'([^']*)'");
    private static final Pattern FORTRAN = Pattern.compile("'fortran_order'\\s*:\\s*(True|False)");
    private static final Pattern SHAPE = Pattern.compile("'shape'\\s*:\\s*\\(([^)]*)\\)");

    public static NpyArray read(Path file) throws IOException {
        byte[] b = Files.readAllBytes(file);
        if (b.length < 10 || (b[0] & 0xFF) != 0x93 || !new String(b, 1, 5, StandardCharsets.US_ASCII).equals("NUMPY")) {
            throw new IOException(file + ": not a .npy file");
        }
        int major = b[6];
        ByteBuffer bb = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
        int headerLen, start;
        if (major == 1) {
            headerLen = bb.getShort(8) & 0xFFFF;
            start = 10;
        } else if (major == 2 || major == 3) {
            headerLen = bb.getInt(8);
            start = 12;
        } else {
            throw new IOException(file + ": .npy version " + major + " is not supported");
        }
        String header = new String(b, start, headerLen, major == 3 ? StandardCharsets.UTF_8 : StandardCharsets.ISO_8859_1);
        Matcher d = DESCR.matcher(header), f = FORTRAN.matcher(header), s = SHAPE.matcher(header);
        if (!d.find() || !f.find() || !s.find()) throw new IOException(file + ": malformed .npy header " + header.strip());
        if (!d.group(1).equals("<f4")) throw new IOException(file + ": dtype " + d.group(1) + ", only <f4 (float32) is read");
        if (f.group(1).equals("True")) throw new IOException(file + ": Fortran order is not supported");
        String[] dims = s.group(1).split(",");
        int n = 0;
        long[] shape = new long[dims.length];
        long count = 1;
        for (String dim : dims) {
            if (dim.isBlank()) continue;
            shape[n] = Long.parseLong(dim.strip());
            count *= shape[n++];
        }
        shape = java.util.Arrays.copyOf(shape, n);
        int dataStart = start + headerLen;
        if (b.length - dataStart != count * 4) throw new IOException(file + ": " + (b.length - dataStart) + " data bytes for shape " + java.util.Arrays.toString(shape));
        float[] data = new float[(int) count];
        bb.position(dataStart);
        bb.asFloatBuffer().get(data);
        return new NpyArray(shape, data);
    }

    /** A 2-D array as rows. */
    public float[][] rows() {
        if (shape.length != 2) throw new IllegalStateException("not 2-D: " + java.util.Arrays.toString(shape));
        int r = (int) shape[0], c = (int) shape[1];
        float[][] out = new float[r][];
        for (int i = 0; i < r; i++) out[i] = java.util.Arrays.copyOfRange(data, i * c, (i + 1) * c);
        return out;
    }
}
