package dev.requant.converter;

import dev.requant.formats.ggml.GgmlType;

/**
 * The output type a rule picked for a tensor, the rule's name (printed by --dry-run), and the encoder that produces
 * the bytes (null = the type's reference codec).
 */
public record TypeDecision(GgmlType type, String rule, RowEncoder encoder) {
    public TypeDecision(GgmlType type, String rule) {
        this(type, rule, null);
    }

    public RowEncoder encoderOrReference() {
        return encoder != null ? encoder : RowEncoder.reference(type);
    }
}
