package dev.requant.formats.io;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.databind.JsonNode;
import dev.requant.formats.FormatException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Reads the JSON files of a Hugging Face folder (config.json, tokenizer.json, the safetensors index, ...). A file
 * that does not parse is a {@link FormatException} naming it and where the parser stopped; a file that cannot be read
 * at all keeps its own IOException, so a permission problem is not reported as bad JSON.
 */
public final class JsonFile {
    private JsonFile() {}

    /**
     * The largest JSON file read (docs/limits.md). The whole tree is held in memory, several times the file's size; the
     * largest real ones (a tokenizer.json with its merges) are a few tens of MB.
     */
    public static final long MAX_BYTES = 256L << 20;

    /** The file's JSON tree (Jackson's empty-content node for an empty file). */
    public static JsonNode read(Path file) throws IOException {
        InputFiles.requireRegular(file, "JSON file");
        long size = Files.size(file);
        if (size > MAX_BYTES) {
            throw new FormatException(file, "is " + size + " bytes; requant reads JSON files of at most " + (MAX_BYTES >> 20) + " MiB");
        }
        try {
            return JsonTree.read(file.toFile());
        } catch (JacksonException e) {
            JsonLocation at = e.getLocation();
            String where = at == null || at.getLineNr() < 0 ? "" : " (line " + at.getLineNr() + ", column " + at.getColumnNr() + ")";
            throw new FormatException(file, "is not valid JSON: " + e.getOriginalMessage() + where);
        }
    }
}
