// Writes a GGUF whose header looks like a real Gemma 3 model (262,144-token vocabulary with scores and types, arch
// keys, 34 layers of tensor infos) and whose data section is a sparse hole of the requested size, so `inspect`
// can be timed on a file of that size without writing gigabytes.
// usage: java -cp formats/target/classes bench/MakeSparseGguf.java OUT.gguf GIB
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.gguf.*;
import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

public class MakeSparseGguf {
    public static void main(String[] a) throws Exception {
        Path out = Path.of(a[0]);
        long target = (long) (Double.parseDouble(a[1]) * (1L << 30));
        int vocab = 262144;
        String[] tokens = new String[vocab];
        float[] scores = new float[vocab];
        int[] types = new int[vocab];
        for (int i = 0; i < vocab; i++) {
            tokens[i] = "\u2581tok" + Integer.toString(i, 36);
            scores[i] = -i;
            types[i] = 1;
        }
        GgufMetadata md = new GgufMetadata()
                .put("general.architecture", GgufValue.string("gemma3"))
                .put("general.name", GgufValue.string("sparse benchmark"))
                .put("gemma3.block_count", GgufValue.u32(34))
                .put("tokenizer.ggml.model", GgufValue.string("llama"))
                .put("tokenizer.ggml.tokens", GgufValue.array(GgufArray.ofStrings(tokens)))
                .put("tokenizer.ggml.scores", GgufValue.array(GgufArray.ofFloat32(scores)))
                .put("tokenizer.ggml.token_type", GgufValue.array(GgufArray.ofInt32(types)));
        // 34 layers x 7 matrices of BF16 [2560 x n], n chosen so the data section reaches the target size
        int hidden = 2560;
        long perLayer = target / 34 / 7 / 2 / hidden;
        List<GgufTensorSpec> specs = new ArrayList<>();
        String[] names = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
        for (int l = 0; l < 34; l++) {
            for (String n : names) specs.add(new GgufTensorSpec("blk." + l + "." + n + ".weight", GgmlType.BF16, new long[] {hidden, perLayer}));
            specs.add(new GgufTensorSpec("blk." + l + ".attn_norm.weight", GgmlType.F32, new long[] {hidden}));
        }
        byte[] header = GgufWriter.encodeHeader(md, specs);
        long data = 0;
        for (GgufTensorSpec s : specs) data += (s.byteSize() + 31) & ~31L;
        try (RandomAccessFile f = new RandomAccessFile(out.toFile(), "rw")) {
            f.setLength(0);
            f.write(header);
            f.setLength(header.length + data);
        }
        System.out.printf("%s: %d bytes (%d header), %d tensors%n", out, header.length + data, header.length, specs.size());
    }
}
