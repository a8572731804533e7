package dev.requant.formats.model;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * The Gemma architectures requant converts and runs, by their {@code general.architecture} string, and the Hugging
 * Face classes ({@code architectures[0]} of config.json) that map to them (conversion/gemma.py registrations, plus
 * Gemma4UnifiedForCausalLM, the text-only class of the unified model).
 */
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

    /** "gemma3, gemma4": for error messages. */
    public static String supportedGgufNames() {
        return String.join(", ", Arrays.stream(values()).map(GemmaArch::ggufName).toList());
    }

    /** A supported HF class: its architecture and whether it is the unified Gemma 4 family. */
    public record HfClass(String name, GemmaArch arch, boolean unified) {}

    private static final Map<String, HfClass> CLASSES = new LinkedHashMap<>();

    static {
        for (String n : new String[] {"Gemma3ForCausalLM", "Gemma3ForConditionalGeneration"}) CLASSES.put(n, new HfClass(n, GEMMA3, false));
        for (String n : new String[] {"Gemma4ForCausalLM", "Gemma4ForConditionalGeneration"}) CLASSES.put(n, new HfClass(n, GEMMA4, false));
        for (String n : new String[] {"Gemma4UnifiedForCausalLM", "Gemma4UnifiedForConditionalGeneration"}) CLASSES.put(n, new HfClass(n, GEMMA4, true));
    }

    public static Optional<HfClass> byHfClass(String name) {
        return Optional.ofNullable(CLASSES.get(name));
    }

    public static String supportedClasses() {
        return String.join(", ", CLASSES.keySet());
    }
}
