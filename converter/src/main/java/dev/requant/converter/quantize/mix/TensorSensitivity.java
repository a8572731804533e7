package dev.requant.converter.quantize.mix;

import java.util.List;

/**
 * What each type of the menu does to one tensor.
 *
 * @param inputBytes the tensor's size as given (BF16/F16/F32), for the table
 */
public record TensorSensitivity(String name, long elements, long inputBytes, List<MixOption> options) {
    public TensorSensitivity {
        options = List.copyOf(options);
    }

    public MixOption option(String label) {
        return options.stream().filter(o -> o.label().equals(label)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException(name + " has no option " + label));
    }
}
