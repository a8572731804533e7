package dev.requant.ops.inspect;

import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.io.JsonFile;
import dev.requant.formats.safetensors.SafetensorsCheckpoint;
import dev.requant.ops.BadInputException;
import dev.requant.ops.Operation;
import dev.requant.ops.OperationContext;
import dev.requant.ops.OperationException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * {@code inspect}: opens a GGUF file, a safetensors file or a Hugging Face folder for reading its header (metadata,
 * tensor table). The result holds the open file; the caller prints it and closes it.
 */
public final class Inspect implements Operation<Inspect.Request, Inspect.Inspected> {
    public record Request(Path file) {}

    /** An open model file, by format. */
    public sealed interface Inspected extends AutoCloseable {
        Path path();

        @Override void close();
    }

    public record Gguf(Path path, GgufFile file) implements Inspected {
        @Override public void close() { file.close(); }
    }

    /** @param architecture "Gemma3ForCausalLM (model_type gemma3_text)" from config.json beside it, or null */
    public record Safetensors(Path path, SafetensorsCheckpoint checkpoint, String architecture) implements Inspected {
        @Override public void close() { checkpoint.close(); }
    }

    @Override
    public Inspected run(Request r, OperationContext ctx) throws OperationException {
        Path file = r.file();
        if (!Files.exists(file)) throw new BadInputException(file + ": no such file or folder");
        try {
            if (Files.isDirectory(file)) return safetensors(file);
            if (!Files.isRegularFile(file)) throw new BadInputException(file + ": not a regular file");
            byte[] head = head(file);
            if (head.length >= 4 && head[0] == 'G' && head[1] == 'G' && head[2] == 'U' && head[3] == 'F') return new Gguf(file, GgufFile.open(file));
            // a safetensors file starts with a little-endian header length and then '{'
            if (head.length >= 9 && head[8] == '{') return safetensors(file);
            throw new BadInputException(file + ": not a GGUF or safetensors file (no GGUF magic, no safetensors JSON header)");
        } catch (Exception e) {
            throw OperationException.of(e);
        }
    }

    private static byte[] head(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            return in.readNBytes(9);
        }
    }

    private static Safetensors safetensors(Path file) throws IOException {
        SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(file);
        String arch = null;
        Path config = Files.isDirectory(file) ? file.resolve("config.json") : null;
        if (config != null && Files.isRegularFile(config)) {
            var c = JsonFile.read(config);
            var archs = c.path("architectures");
            arch = (archs.isArray() && !archs.isEmpty() ? archs.get(0).asText() : "?") + " (model_type " + c.path("model_type").asText("?") + ")";
        }
        return new Safetensors(file, ck, arch);
    }
}
