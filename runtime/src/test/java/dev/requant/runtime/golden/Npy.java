package dev.requant.runtime.golden;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Reads a little-endian float32, C-order, 2-D .npy file (version 1 or 2 header). Test helper. */
record Npy(int rows, int cols, float[] data) {
    static Npy read(Path p) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(p)).order(ByteOrder.LITTLE_ENDIAN);
        if (b.get(0) != (byte) 0x93 || b.get(1) != 'N') throw new IOException(p + ": not a .npy file");
        int major = b.get(6);
        int headerLen = major == 1 ? Short.toUnsignedInt(b.getShort(8)) : b.getInt(8);
        int start = major == 1 ? 10 : 12;
        String header = new String(b.array(), start, headerLen, StandardCharsets.US_ASCII);
        if (!header.contains("'<f4'") || !header.contains("'fortran_order': False")) throw new IOException(p + ": expected C-order <f4: " + header);
        Matcher m = Pattern.compile("'shape': \\((\\d+), (\\d+)\\)").matcher(header);
        if (!m.find()) throw new IOException(p + ": expected a 2-D shape: " + header);
        int rows = Integer.parseInt(m.group(1)), cols = Integer.parseInt(m.group(2));
        float[] data = new float[rows * cols];
        b.position(start + headerLen);
        b.asFloatBuffer().get(data);
        return new Npy(rows, cols, data);
    }
}
