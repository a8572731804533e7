package dev.requant.formats.gguf;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The ordered key/value section of a GGUF file. Order is part of the file: {@link #put} keeps an existing key's
 * position (gguf-py's GGUFWriter), {@link #putLast} moves it to the end (llama.cpp's gguf_set_*, which llama-quantize
 * uses for general.quantization_version and general.file_type).
 */
public final class GgufMetadata {
    public static final int DEFAULT_ALIGNMENT = 32;

    private final LinkedHashMap<String, GgufValue> entries = new LinkedHashMap<>();

    public GgufMetadata() {}

    public GgufMetadata(GgufMetadata other) {
        entries.putAll(other.entries);
    }

    public GgufMetadata put(String key, GgufValue value) {
        if (key.isEmpty()) throw new IllegalArgumentException("empty GGUF key");
        entries.put(key, value);
        return this;
    }

    public GgufMetadata putLast(String key, GgufValue value) {
        entries.remove(key);
        return put(key, value);
    }

    public GgufValue remove(String key) { return entries.remove(key); }

    public boolean contains(String key) { return entries.containsKey(key); }

    public Optional<GgufValue> get(String key) { return Optional.ofNullable(entries.get(key)); }

    public Set<String> keys() { return Collections.unmodifiableSet(entries.keySet()); }

    public Map<String, GgufValue> asMap() { return Collections.unmodifiableMap(entries); }

    public int size() { return entries.size(); }

    public Optional<String> getString(String key) {
        return get(key).filter(v -> v.type() == GgufValueType.STRING).map(GgufValue::asString);
    }

    /** An integer of any width. */
    public Optional<Long> getLong(String key) {
        return get(key).filter(v -> v.type().isInteger()).map(GgufValue::asLong);
    }

    public Optional<Float> getFloat(String key) {
        return get(key).filter(v -> v.type() == GgufValueType.FLOAT32 || v.type() == GgufValueType.FLOAT64)
                .map(GgufValue::asFloat);
    }

    public Optional<Boolean> getBool(String key) {
        return get(key).filter(v -> v.type() == GgufValueType.BOOL).map(GgufValue::asBool);
    }

    public Optional<GgufArray> getArray(String key) {
        return get(key).filter(v -> v.type() == GgufValueType.ARRAY).map(GgufValue::asArray);
    }

    public Optional<String> architecture() { return getString(GgufKeys.General.ARCHITECTURE); }

    /** The layout alignment: general.alignment when present, else 32. Validity is checked by reader and writer. */
    public int alignment() {
        return get(GgufKeys.General.ALIGNMENT).filter(v -> v.type() == GgufValueType.UINT32).map(v -> (int) v.asLong())
                .orElse(DEFAULT_ALIGNMENT);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof GgufMetadata m && entries.equals(m.entries)
                && java.util.Arrays.equals(entries.keySet().toArray(), m.entries.keySet().toArray());
    }

    @Override
    public int hashCode() { return entries.hashCode(); }

    @Override
    public String toString() { return "GgufMetadata" + entries.keySet(); }
}
