package dev.requant.queue;

import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.gguf.GgufArray;
import dev.requant.formats.gguf.GgufMetadata;
import dev.requant.formats.gguf.GgufTensorSpec;
import dev.requant.formats.gguf.GgufValue;
import dev.requant.formats.gguf.GgufWriter;
import dev.requant.formats.safetensors.SafetensorsDtype;
import dev.requant.formats.safetensors.SafetensorsWriter;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/** Tiny but well-formed inputs for jobs: a GGUF model, an HF folder, imatrix files. */
final class Fixtures {
    private Fixtures() {}

    /** A one-tensor BF16 GGUF model. */
    static Path gguf(Path file) throws IOException {
        GgufMetadata md = new GgufMetadata();
        md.put("general.architecture", GgufValue.string("llama"));
        md.put("general.name", GgufValue.string(file.getFileName().toString()));
        GgufTensorSpec t = new GgufTensorSpec("token_embd.weight", GgmlType.BF16, new long[] {32, 2});
        try (GgufWriter w = GgufWriter.create(file, md, List.of(t))) {
            w.writeTensor(t.name(), MemorySegment.ofArray(new byte[(int) t.byteSize()]));
            w.commit();
        }
        return file;
    }

    /** A Hugging Face folder: config.json and one model.safetensors. */
    static Path hfFolder(Path dir) throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("config.json"), "{\"architectures\": [\"Gemma3ForCausalLM\"], \"model_type\": \"gemma3_text\"}");
        var spec = new SafetensorsWriter.Spec("model.embed_tokens.weight", SafetensorsDtype.BF16, new long[] {2, 32});
        try (SafetensorsWriter w = SafetensorsWriter.create(dir.resolve("model.safetensors"), Map.of(), List.of(spec))) {
            w.write(spec.name(), new byte[(int) spec.byteSize()]);
            w.commit();
        }
        return dir;
    }

    /** A GGUF imatrix with the three keys llama-quantize requires. */
    static Path ggufImatrix(Path file, boolean withKeys) throws IOException {
        GgufMetadata md = new GgufMetadata();
        md.put("general.type", GgufValue.string("imatrix"));
        if (withKeys) {
            md.put("imatrix.datasets", GgufValue.array(GgufArray.ofStrings("calibration.txt")));
            md.put("imatrix.chunk_count", GgufValue.u32(10));
            md.put("imatrix.chunk_size", GgufValue.u32(512));
        }
        GgufTensorSpec sums = new GgufTensorSpec("token_embd.weight.in_sum2", GgmlType.F32, new long[] {32});
        GgufTensorSpec counts = new GgufTensorSpec("token_embd.weight.counts", GgmlType.F32, new long[] {1});
        try (GgufWriter w = GgufWriter.create(file, md, List.of(sums, counts))) {
            w.writeTensor(sums.name(), MemorySegment.ofArray(new byte[128]));
            w.writeTensor(counts.name(), MemorySegment.ofArray(new byte[4]));
            w.commit();
        }
        return file;
    }
}
