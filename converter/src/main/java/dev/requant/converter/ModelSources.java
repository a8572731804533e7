package dev.requant.converter;

import dev.requant.formats.model.GgufModelSource;
import dev.requant.formats.model.ModelSource;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/** Opens "a model" given by path: a .gguf file as itself, a Hugging Face folder as its BF16 conversion. */
public final class ModelSources {
    private ModelSources() {}

    public static ModelSource open(Path path) throws IOException {
        if (!Files.exists(path)) throw new NoSuchFileException(path.toString(), null, "no such file or folder");
        if (Files.isDirectory(path)) return HfModelSource.open(path);
        return GgufModelSource.open(path);
    }
}
