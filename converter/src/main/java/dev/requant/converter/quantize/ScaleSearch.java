package dev.requant.converter.quantize;

import java.util.Locale;

/**
 * How block scales are chosen (quantize --search). DEFAULT encodes exactly as llama.cpp's quantizers do (bit for bit); EXHAUSTIVE
 * searches more candidates per block under the same importance-weighted error and keeps llama.cpp's choice whenever
 * nothing better is found (see {@link ExhaustiveCodecs}).
 */
public enum ScaleSearch {
    DEFAULT,
    EXHAUSTIVE;

    public static ScaleSearch parse(String s) {
        return switch (s.toLowerCase(Locale.ROOT)) {
            case "llama.cpp", "llamacpp", "default", "none" -> DEFAULT;
            case "exhaustive" -> EXHAUSTIVE;
            default -> throw new IllegalArgumentException("unknown scale search '" + s + "' (choose default or exhaustive)");
        };
    }
}
