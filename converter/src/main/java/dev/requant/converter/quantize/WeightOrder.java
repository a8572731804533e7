package dev.requant.converter.quantize;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Comparator;

/**
 * The order of tensors in llama-quantize's output: llama_model_loader's weights_map is a std::map ordered by
 * weight_name_comparer (src/llama-model-loader.h): first the layer number that {@code sscanf(name, "blk.%d.")}
 * finds (-1 when it finds none), then the name bytewise. So non-block tensors come first in name order, then blk.0.*,
 * blk.1.*, ..., blk.10.* after blk.9.*.
 */
public final class WeightOrder implements Comparator<String> {
    public static final WeightOrder INSTANCE = new WeightOrder();

    private WeightOrder() {}

    @Override
    public int compare(String a, String b) {
        int la = layer(a), lb = layer(b);
        if (la != lb) return Integer.compare(la, lb);
        return Arrays.compareUnsigned(a.getBytes(StandardCharsets.UTF_8), b.getBytes(StandardCharsets.UTF_8));
    }

    /**
     * What {@code sscanf(name, "blk.%d.", &layer)} stores, or -1: the literal "blk." then %d (leading white space, an
     * optional sign, digits). The '.' after the number is not needed for the store, as sscanf assigns %d before it
     * tries to match the rest.
     */
    public static int layer(String name) {
        return scanLayer(name).orElse(-1);
    }

    /** The number {@code sscanf(name, "blk.%d.")} assigns, or empty when it assigns none (sscanf returns 0). */
    public static java.util.OptionalInt scanLayer(String name) {
        if (!name.startsWith("blk.")) return java.util.OptionalInt.empty();
        int i = 4, n = name.length();
        while (i < n && isCSpace(name.charAt(i))) i++;
        boolean negative = false;
        if (i < n && (name.charAt(i) == '+' || name.charAt(i) == '-')) {
            negative = name.charAt(i) == '-';
            i++;
        }
        int start = i;
        long v = 0;
        while (i < n && name.charAt(i) >= '0' && name.charAt(i) <= '9') {
            v = Math.min(v * 10 + (name.charAt(i) - '0'), 1L << 40); // glibc saturates; layer numbers never get here
            i++;
        }
        if (i == start) return java.util.OptionalInt.empty();
        v = negative ? -v : v;
        return java.util.OptionalInt.of((int) Math.max(Integer.MIN_VALUE, Math.min(Integer.MAX_VALUE, v)));
    }

    private static boolean isCSpace(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == 0x0B;
    }
}
