package dev.requant.formats.manifest;

import java.math.BigDecimal;

/**
 * Text exactly as Python's {@code json.dumps(value)} writes it with default arguments (", " separators, ASCII-only
 * strings, floats in repr form). The golden manifests hash long arrays as {@code sha256(json.dumps(values))}, so
 * reproducing those hashes needs this byte-for-byte.
 */
public final class PythonJson {
    private PythonJson() {}

    public static void appendString(StringBuilder sb, String s) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                case '\b' -> sb.append("\\b");
                case '\f' -> sb.append("\\f");
                default -> {
                    if (c >= 0x20 && c <= 0x7E) sb.append(c);
                    else sb.append(String.format("\\u%04x", (int) c)); // UTF-16 units: surrogate pairs stay pairs, as in Python
                }
            }
        }
        sb.append('"');
    }

    /** Python's repr() of a float (binary64): shortest round-trip digits, fixed notation for 1e-4 <= |x| < 1e16. */
    public static String repr(double x) {
        if (Double.isNaN(x)) return "NaN";
        if (Double.isInfinite(x)) return x > 0 ? "Infinity" : "-Infinity";
        if (x == 0) return (Double.doubleToRawLongBits(x) < 0) ? "-0.0" : "0.0";
        // Java 19+ Double.toString yields the shortest digits that round-trip, like Python's repr, except that it
        // keeps two significant digits in E form: that differs only for double subnormals (4.9E-324 vs 5e-324),
        // which widened float32 metadata never produces.
        BigDecimal d = new BigDecimal(Double.toString(x)).stripTrailingZeros();
        String digits = d.unscaledValue().abs().toString();
        int exp10 = digits.length() - 1 - d.scale(); // position of the leading digit
        StringBuilder sb = new StringBuilder();
        if (x < 0) sb.append('-');
        if (exp10 >= -4 && exp10 < 16) {
            if (exp10 < 0) {
                sb.append("0.");
                sb.append("0".repeat(-exp10 - 1)).append(digits);
            } else if (digits.length() <= exp10 + 1) {
                sb.append(digits).append("0".repeat(exp10 + 1 - digits.length())).append(".0");
            } else {
                sb.append(digits, 0, exp10 + 1).append('.').append(digits, exp10 + 1, digits.length());
            }
        } else {
            sb.append(digits.charAt(0));
            if (digits.length() > 1) sb.append('.').append(digits, 1, digits.length());
            sb.append('e').append(exp10 < 0 ? '-' : '+');
            int ae = Math.abs(exp10);
            if (ae < 10) sb.append('0');
            sb.append(ae);
        }
        return sb.toString();
    }
}
