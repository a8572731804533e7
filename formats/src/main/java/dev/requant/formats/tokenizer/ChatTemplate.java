package dev.requant.formats.tokenizer;

import java.util.List;

/**
 * A chat template as tokenizer files give it: one Jinja string, or a list of named templates ("default" plus e.g.
 * "tool_use") from {@code additional_chat_templates/*.jinja} or a list-valued {@code chat_template}.
 */
public record ChatTemplate(String single, List<Named> named) {
    public record Named(String name, String template) {}

    public ChatTemplate {
        named = named == null ? null : List.copyOf(named);
        if ((single == null) == (named == null)) throw new IllegalArgumentException("exactly one of single/named");
    }

    public static ChatTemplate of(String template) { return new ChatTemplate(template, null); }

    public static ChatTemplate of(List<Named> named) { return new ChatTemplate(null, named); }

    /** The template llama.cpp uses by default: the single one, or the one named "default". */
    public String defaultTemplate() {
        if (single != null) return single;
        for (Named n : named) if (n.name().equals("default")) return n.template();
        return null;
    }
}
