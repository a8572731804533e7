package dev.requant.converter;

import dev.requant.formats.model.GgufModelSource;
import dev.requant.formats.model.ModelSource;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/** Opens "a model" given by path: a .gguf file as itself, a Hugging Face folder as its BF16 conversion (and projector). */
public final class ModelSources {
    private ModelSources() {}

    public static ModelSource open(Path path) throws IOException {
        if (!Files.exists(path)) throw new NoSuchFileException(path.toString(), null, "no such file or folder");
        if (Files.isDirectory(path)) return HfModelSource.open(path);
        return GgufModelSource.open(path);
    }

    /**
     * The projector of a multimodal Hugging Face folder (vision/audio encoders, as {@code convert --mmproj} names them)
     * with every tensor in the type it is stored in; empty for a GGUF file or a text-only checkpoint.
     */
    public static java.util.Optional<ModelSource> openProjector(Path path) throws IOException {
        if (!Files.isDirectory(path) || !MmprojPlanner.hasProjector(HfConfig.readForProjector(path))) return java.util.Optional.empty();
        return java.util.Optional.of(HfModelSource.of(MmprojPlanner.planAsStored(path)));
    }
}
