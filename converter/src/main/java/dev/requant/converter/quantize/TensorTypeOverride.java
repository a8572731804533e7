package dev.requant.converter.quantize;

import com.google.re2j.Pattern;
import com.google.re2j.PatternSyntaxException;
import dev.requant.formats.ggml.GgmlType;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * One {@code --tensor-type PATTERN=TYPE} of llama-quantize (parse_tensor_type in tools/quantize/quantize.cpp): the
 * pattern is lower-cased and searched for anywhere in the tensor name (std::regex_search). The first matching option
 * wins. llama.cpp compiles ECMAScript regexes; RE2's syntax agrees on everything tensor patterns use (classes,
 * alternation, anchors, quantifiers, escapes). RE2/J matches in time linear in the name whatever the pattern, so a
 * user's "(.*a){20}X" cannot hang a run the way a backtracking engine (java.util.regex, std::regex) does;
 * backreferences and lookaround, which need backtracking, are refused as bad patterns.
 */
public record TensorTypeOverride(String pattern, Pattern regex, GgmlType type) {
    /** Parses {@code PATTERN=TYPE}; TYPE is a ggml type name, case-insensitive ("q8_0", "Q6_K", "f16"). */
    public static TensorTypeOverride parse(String option) {
        int eq = option.indexOf('=');
        if (eq < 0) throw new IllegalArgumentException("malformed tensor type '" + option + "': expected PATTERN=TYPE");
        if (eq == 0) throw new IllegalArgumentException("missing tensor name in '" + option + "'");
        if (eq == option.length() - 1) throw new IllegalArgumentException("missing quantization type in '" + option + "'");
        String pattern = option.substring(0, eq).toLowerCase(Locale.ROOT);
        String typeName = option.substring(eq + 1);
        GgmlType type = GgmlType.byName(typeName)
                .orElseThrow(() -> new IllegalArgumentException("invalid ggml type '" + typeName + "' in '" + option + "'"));
        try {
            return new TensorTypeOverride(pattern, Pattern.compile(pattern), type);
        } catch (PatternSyntaxException e) {
            throw new IllegalArgumentException("bad pattern '" + pattern + "': " + e.getDescription());
        }
    }

    /**
     * {@code --tensor-type-file}: the file's words (separated by spaces or newlines, as {@code file >> arg} reads
     * them), each a {@code PATTERN=TYPE} (parse_tensor_type_file).
     */
    public static List<TensorTypeOverride> readFile(Path file) {
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalArgumentException("failed to open file '" + file + "': "
                    + (e instanceof java.nio.file.NoSuchFileException ? "no such file" : e.getMessage()));
        }
        List<TensorTypeOverride> out = new ArrayList<>();
        for (String word : text.split("\\s+")) {
            if (word.isEmpty()) continue;
            try {
                out.add(parse(word));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(file + ": " + e.getMessage());
            }
        }
        return out;
    }

    public boolean matches(String tensorName) {
        return regex.matcher(tensorName).find();
    }

    @Override
    public String toString() { return pattern + "=" + type.ggmlName(); }
}
