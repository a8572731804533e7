package dev.requant.formats.io;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.requant.formats.FormatException;
import java.io.IOException;
import java.nio.file.Path;

/**
 * Reads the JSON files of a Hugging Face folder (config.json, tokenizer.json, the safetensors index, ...). A file
 * that does not parse is a {@link FormatException} naming it and where the parser stopped; a file that cannot be read
 * at all keeps its own IOException, so a permission problem is not reported as bad JSON.
 */
public final class JsonFile {
    private JsonFile() {}

    private static final ObjectMapper MAPPER = new ObjectMapper();

    /** The file's JSON tree (Jackson's empty-content node for an empty file). */
    public static JsonNode read(Path file) throws IOException {
        InputFiles.requireRegular(file, "JSON file");
        try {
            return MAPPER.readTree(file.toFile());
        } catch (JacksonException e) {
            JsonLocation at = e.getLocation();
            String where = at == null || at.getLineNr() < 0 ? "" : " (line " + at.getLineNr() + ", column " + at.getColumnNr() + ")";
            throw new FormatException(file, "is not valid JSON: " + e.getOriginalMessage() + where);
        }
    }
}
