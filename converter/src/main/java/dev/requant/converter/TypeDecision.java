package dev.requant.converter;

import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.ggml.GgmlType;

/**
 * The output type a rule picked for a tensor, the rule's name (printed by --dry-run), and the codec that encodes
 * the bytes (null = the type's own, {@link BlockCodec#of}; a rule may pick another encoder of the same type, such as
 * a lattice-aware Q4_0 for QAT weights).
 */
public record TypeDecision(GgmlType type, String rule, BlockCodec encoder) {
    public TypeDecision(GgmlType type, String rule) {
        this(type, rule, null);
    }

    public BlockCodec encoderOrReference() {
        return encoder != null ? encoder : BlockCodec.of(type);
    }
}
