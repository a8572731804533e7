package dev.requant.testmodels;

import dev.requant.formats.safetensors.SafetensorsFile;
import dev.requant.formats.safetensors.SafetensorsTensor;
import dev.requant.formats.safetensors.SafetensorsWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * testmodels/mmproj/released_layout.py in Java: a Gemma3ForConditionalGeneration folder saved by transformers 5
 * ({@code vision_tower.embeddings.*}), which the pinned convert_hf_to_gguf.py cannot map, rewritten to the released
 * checkpoints' names ({@code vision_tower.vision_model.*}). Tensors are re-packed in the order of their new names with
 * their bytes unchanged, and the header is written as the script's {@code json.dumps} writes it, so the file is
 * byte-identical to the one the GPU run converted (its md5 is in testmodels/mmproj/data/README.md).
 *
 * <p>The other files are copied as they are. The script also rewrote the text config's {@code layer_types} to llama.cpp's
 * gemma3 pattern; a projector conversion does not read them, so this copy keeps them as saved.
 */
public final class ReleasedGemma3Layout {
    private record Rename(String from, String to) {}

    /** released_layout.py's RENAMES: the first matching prefix is replaced. */
    private static final List<Rename> RENAMES = List.of(
            new Rename("vision_tower.embeddings.", "vision_tower.vision_model.embeddings."),
            new Rename("vision_tower.encoder.", "vision_tower.vision_model.encoder."),
            new Rename("vision_tower.post_layernorm.", "vision_tower.vision_model.post_layernorm."),
            new Rename("vision_tower.head.", "vision_tower.vision_model.head."),
            new Rename("model.language_model.", "language_model.model."));

    private ReleasedGemma3Layout() {}

    static String rename(String name) {
        for (Rename r : RENAMES) {
            if (name.startsWith(r.from())) return r.to() + name.substring(r.from().length());
        }
        return name;
    }

    /** Writes the renamed copy of the single-file checkpoint {@code src} into {@code dst} (created); returns dst. */
    public static Path write(Path src, Path dst) throws IOException {
        Files.createDirectories(dst);
        try (SafetensorsFile in = SafetensorsFile.open(src.resolve("model.safetensors"))) {
            List<SafetensorsTensor> order = new ArrayList<>(in.tensors());
            order.sort(Comparator.comparing(t -> rename(t.name())));
            List<SafetensorsWriter.Spec> specs = order.stream().map(t -> new SafetensorsWriter.Spec(rename(t.name()), t.dtype(), t.shape())).toList();
            try (SafetensorsWriter w = SafetensorsWriter.create(dst.resolve("model.safetensors"), in.metadata(), specs)) {
                for (SafetensorsTensor t : order) w.write(rename(t.name()), in.data(t));
                w.commit();
            }
        }
        try (Stream<Path> files = Files.list(src)) {
            for (Path f : files.toList()) {
                if (Files.isRegularFile(f) && !f.getFileName().toString().equals("model.safetensors")) Files.copy(f, dst.resolve(f.getFileName()));
            }
        }
        return dst;
    }
}
