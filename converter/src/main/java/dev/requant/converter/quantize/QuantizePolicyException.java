package dev.requant.converter.quantize;

/** A tensor llama-quantize's rules cannot place (no fallback for its row length, no layer number in an expert name). */
public final class QuantizePolicyException extends RuntimeException {
    public QuantizePolicyException(String message) { super(message); }
}
