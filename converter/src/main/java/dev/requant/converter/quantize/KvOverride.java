package dev.requant.converter.quantize;

import dev.requant.formats.gguf.GgufValue;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One {@code --override-kv KEY=TYPE:VALUE} of llama-quantize (string_parse_kv_override in common/common.cpp): TYPE is
 * {@code int}, {@code float}, {@code bool} ({@code true} or {@code false}) or {@code str} (at most 127 bytes); the key
 * at most 127 bytes. llama-quantize writes each at the end of the output metadata as gguf_set_* does (a key that
 * exists moves to the end): int as UINT32 of its absolute value (llama.cpp PR 14182), float as FLOAT32, bool, string.
 * Its model loader also reads the model's hyperparameters through the overrides ({@link ModelFacts}).
 *
 * <p>One difference: llama.cpp parses numbers with atol/atof, which read "12abc" as 12 and "abc" as 0; requant refuses
 * a value that is not a whole number (int) or a number (float) instead of writing a value nobody meant.
 *
 * @param value a Long (int), Double (float), Boolean (bool) or String (str)
 */
public record KvOverride(String key, Kind kind, Object value) {
    public enum Kind { INT, FLOAT, BOOL, STR }

    /** llama_model_kv_override's char key[128] and char val_str[128]. */
    static final int MAX_BYTES = 127;
    private static final Pattern FLOAT = Pattern.compile("[+-]?(\\d+\\.?\\d*|\\.\\d+)([eE][+-]?\\d+)?|[+-]?(inf|infinity|nan)",
            Pattern.CASE_INSENSITIVE);

    public static KvOverride parse(String option) {
        int eq = option.indexOf('=');
        if (eq < 0 || bytes(option.substring(0, Math.max(eq, 0))) > MAX_BYTES) {
            throw new IllegalArgumentException("malformed KV override '" + option + "': expected KEY=TYPE:VALUE with a key of at most 127 bytes");
        }
        String key = option.substring(0, eq);
        String rest = option.substring(eq + 1);
        if (rest.startsWith("int:")) {
            String v = rest.substring(4).trim();
            try {
                return new KvOverride(key, Kind.INT, Long.parseLong(v.startsWith("+") ? v.substring(1) : v));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("invalid int value '" + rest.substring(4) + "' in KV override '" + option + "'");
            }
        }
        if (rest.startsWith("float:")) {
            String v = rest.substring(6).trim();
            Matcher m = FLOAT.matcher(v);
            if (!m.matches()) throw new IllegalArgumentException("invalid float value '" + rest.substring(6) + "' in KV override '" + option + "'");
            String l = v.toLowerCase(Locale.ROOT);
            double d = l.endsWith("nan") ? Double.NaN : l.contains("inf") ? (l.startsWith("-") ? Double.NEGATIVE_INFINITY : Double.POSITIVE_INFINITY)
                    : Double.parseDouble(v);
            return new KvOverride(key, Kind.FLOAT, d);
        }
        if (rest.startsWith("bool:")) {
            String v = rest.substring(5);
            if (!v.equals("true") && !v.equals("false")) {
                throw new IllegalArgumentException("invalid boolean value for KV override '" + option + "' (true or false)");
            }
            return new KvOverride(key, Kind.BOOL, v.equals("true"));
        }
        if (rest.startsWith("str:")) {
            String v = rest.substring(4);
            if (bytes(v) > MAX_BYTES) throw new IllegalArgumentException("malformed KV override '" + option + "', value cannot exceed 127 chars");
            return new KvOverride(key, Kind.STR, v);
        }
        throw new IllegalArgumentException("invalid type for KV override '" + option + "' (int:, float:, bool: or str:)");
    }

    private static int bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8).length;
    }

    /** The value as llama_model_quantize writes it. */
    public GgufValue toGgufValue() {
        return switch (kind) {
            case INT -> GgufValue.u32(Math.abs((Long) value) & 0xFFFFFFFFL);
            case FLOAT -> GgufValue.f32((float) (double) (Double) value);
            case BOOL -> GgufValue.bool((Boolean) value);
            case STR -> GgufValue.string((String) value);
        };
    }

    @Override
    public String toString() {
        return key + "=" + kind.name().toLowerCase(Locale.ROOT) + ":" + value;
    }
}
