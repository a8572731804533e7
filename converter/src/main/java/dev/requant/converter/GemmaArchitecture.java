package dev.requant.converter;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * The GGUF architectures this converter writes, and the Hugging Face classes ({@code architectures[0]} of
 * config.json) that map to them (conversion/gemma.py registrations, plus Gemma4UnifiedForCausalLM, the text-only
 * class of the unified model).
 */
public enum GemmaArchitecture {
    GEMMA3("gemma3"),
    GEMMA4("gemma4");

    private final String ggufName;

    GemmaArchitecture(String ggufName) { this.ggufName = ggufName; }

    /** general.architecture and the prefix of the arch keys. */
    public String ggufName() { return ggufName; }

    /** A supported HF class: its architecture and whether it is the unified Gemma 4 family. */
    public record HfClass(String name, GemmaArchitecture arch, boolean unified) {}

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
