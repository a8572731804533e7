import dev.requant.formats.ggml.*;
import java.io.*;
import java.lang.foreign.*;
import java.nio.*;
/** Random blocks of the types the CUDA dequantizer reads and their decodes by the formats module (the reference): TYPE, N, BYTES, the blocks, the floats, for dequant-host-check.sh. */
public class DequantBlocks {
  public static void main(String[] a) throws Exception {
    java.util.List<GgmlType> types = java.util.Arrays.stream(GgmlType.values()).filter(dev.requant.cuda.CudaKernels::reads).toList();
    java.util.Random r = new java.util.Random(42);
    try (DataOutputStream out = new DataOutputStream(new BufferedOutputStream(new FileOutputStream(a[0])))) {
      for (GgmlType t : types) {
        int blocks = 4096; long n = (long) blocks * t.blockSize(); int nb = blocks * t.typeSize();
        byte[] b = new byte[nb]; r.nextBytes(b);
        float[] f = new float[(int) n];
        BlockCodec.of(t).decode(MemorySegment.ofArray(b), 0, f, 0, (int) n);
        ByteBuffer bb = ByteBuffer.allocate(4 + 8 + 8 + nb + 4 * (int) n).order(ByteOrder.LITTLE_ENDIAN);
        bb.putInt(t.id()).putLong(n).putLong(nb).put(b); for (float v : f) bb.putFloat(v);
        out.write(bb.array());
      }
    }
  }
}
