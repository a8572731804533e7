package dev.requant.converter.quantize;

import java.io.IOException;

/** A quantization llama-quantize would refuse (bad imatrix, requantizing without --allow-requantize, a type with no fallback). */
public final class QuantizeException extends IOException {
    public QuantizeException(String message) { super(message); }
}
