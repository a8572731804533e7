package dev.requant.converter;

import java.util.Optional;

/**
 * One rule of the per-tensor type policy: it either decides the tensor's output type (and says why, by its name) or
 * passes. Rules run in order and the first decision wins, so a rule placed earlier overrides the ones after it.
 */
public interface TypeRule {
    /** The name printed by --dry-run next to each tensor it decides. */
    String name();

    Optional<TypeDecision> decide(TensorCandidate t);
}
