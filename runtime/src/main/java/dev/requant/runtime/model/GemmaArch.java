package dev.requant.runtime.model;

import java.util.Optional;

/** The GGUF architectures this runtime runs, by their {@code general.architecture} string. */
public enum GemmaArch {
    GEMMA3("gemma3"),
    GEMMA4("gemma4");

    private final String ggufName;

    GemmaArch(String ggufName) { this.ggufName = ggufName; }

    /** The string in {@code general.architecture} and the prefix of the arch keys ({@code gemma3.block_count}). */
    public String ggufName() { return ggufName; }

    public static Optional<GemmaArch> byGgufName(String name) {
        for (GemmaArch a : values()) if (a.ggufName.equals(name)) return Optional.of(a);
        return Optional.empty();
    }
}
