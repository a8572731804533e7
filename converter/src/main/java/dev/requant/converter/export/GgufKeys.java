package dev.requant.converter.export;

import dev.requant.formats.FormatException;
import dev.requant.formats.gguf.GgufArray;
import dev.requant.formats.gguf.GgufTensors;
import dev.requant.formats.gguf.GgufMetadata;
import dev.requant.formats.gguf.GgufValue;
import java.util.Optional;

/**
 * Typed reads of a GGUF file's metadata for the export, each failing with a {@link FormatException} that names the
 * file and the key. Integer keys may be stored in any integer type; per-layer keys as a scalar or an array.
 */
final class GgufKeys {
    private final GgufTensors file;
    private final GgufMetadata md;
    private final String arch;

    GgufKeys(GgufTensors file, String arch) {
        this.file = file;
        this.md = file.metadata();
        this.arch = arch;
    }

    GgufTensors file() { return file; }

    GgufMetadata metadata() { return md; }

    FormatException error(String problem) {
        return new FormatException(file.path(), problem);
    }

    /** {@code <arch>.<key>}, which must be there. */
    long u(String key) throws FormatException {
        return optU(key).orElseThrow(() -> error("has no " + arch + "." + key + " (is it a complete " + arch + " GGUF?)"));
    }

    Optional<Long> optU(String key) throws FormatException {
        return integer(arch + "." + key);
    }

    Optional<Long> integer(String fullKey) throws FormatException {
        GgufValue v = md.get(fullKey).orElse(null);
        if (v == null) return Optional.empty();
        if (!v.type().isInteger()) throw error(fullKey + " is " + v.type() + ", expected an integer");
        return Optional.of(v.asLong());
    }

    Optional<Double> optF(String key) throws FormatException {
        GgufValue v = md.get(arch + "." + key).orElse(null);
        if (v == null) return Optional.empty();
        if (v.type().isInteger()) return Optional.of((double) v.asLong());
        try {
            return Optional.of(shortest(v.asFloat()));
        } catch (IllegalStateException e) {
            throw error(arch + "." + key + " is " + v.type() + ", expected a number");
        }
    }

    /** A per-layer integer key: a scalar repeated, or an array of exactly {@code n} values. */
    long[] perLayer(String key, int n) throws FormatException {
        GgufValue v = md.get(arch + "." + key).orElseThrow(() -> error("has no " + arch + "." + key));
        long[] out = new long[n];
        if (v.type().isInteger()) {
            java.util.Arrays.fill(out, v.asLong());
            return out;
        }
        if (v.type() != dev.requant.formats.gguf.GgufValueType.ARRAY) throw error(arch + "." + key + " is " + v.type() + ", expected an integer or an array");
        GgufArray a = v.asArray();
        if (a.length() != n) throw error(arch + "." + key + " has " + a.length() + " entries for " + n + " layers");
        for (int i = 0; i < n; i++) {
            if (!(a.get(i) instanceof Long l)) throw error(arch + "." + key + "[" + i + "] is not an integer");
            out[i] = l;
        }
        return out;
    }

    boolean isArray(String key) {
        return md.get(arch + "." + key).map(v -> v.type() == dev.requant.formats.gguf.GgufValueType.ARRAY).orElse(false);
    }

    Optional<boolean[]> bools(String key) throws FormatException {
        GgufValue v = md.get(arch + "." + key).orElse(null);
        if (v == null) return Optional.empty();
        if (v.type() != dev.requant.formats.gguf.GgufValueType.ARRAY || v.asArray().elementType() != dev.requant.formats.gguf.GgufValueType.BOOL) {
            throw error(arch + "." + key + " is not a BOOL array");
        }
        return Optional.of(v.asArray().bools().clone());
    }

    Optional<String> string(String fullKey) throws FormatException {
        GgufValue v = md.get(fullKey).orElse(null);
        if (v == null) return Optional.empty();
        if (v.type() != dev.requant.formats.gguf.GgufValueType.STRING) throw error(fullKey + " is " + v.type() + ", expected a string");
        return Optional.of(v.asString());
    }

    /**
     * A float32 as the decimal a Python config carries: the shortest decimal that reads back as the same float
     * (1e-6f gives 1.0E-6, not 9.99999997e-7), so that config.json holds the number the model was configured with.
     */
    static double shortest(float f) {
        return Double.parseDouble(Float.toString(f));
    }
}
