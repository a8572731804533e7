package dev.requant.converter;

import java.util.Locale;

/**
 * Which linear weights of a Gemma checkpoint {@code quantize-nvfp4} turns into NVFP4. The candidates are the decoder
 * layers' attention and MLP projections (GGUF attn_q/k/v/output, ffn_gate/up/down), what ModelOpt's default NVFP4
 * config quantizes; embeddings, the LM head, norms, routers and Gemma 4's per-layer projections always stay as they
 * are.
 *
 * @param mlpOnly only ffn_gate/up/down
 * @param protectFirstLast keep the first and last N layers unquantized
 */
public record Nvfp4Recipe(boolean mlpOnly, int protectFirstLast) {
    public static final Nvfp4Recipe ALL = new Nvfp4Recipe(false, 0);

    /** all | mlp-only | protect-first-last=N */
    public static Nvfp4Recipe parse(String s) {
        String t = s.trim().toLowerCase(Locale.ROOT);
        if (t.equals("all")) return ALL;
        if (t.equals("mlp-only")) return new Nvfp4Recipe(true, 0);
        if (t.startsWith("protect-first-last=")) {
            try {
                int n = Integer.parseInt(t.substring("protect-first-last=".length()));
                if (n < 0) throw new NumberFormatException();
                return new Nvfp4Recipe(false, n);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("protect-first-last=N needs a non-negative layer count, got '" + s + "'");
            }
        }
        throw new IllegalArgumentException("unknown recipe '" + s + "' (choose all, mlp-only or protect-first-last=N)");
    }

    /** Whether the GGUF weight {@code kind} ("attn_q.weight"...) of layer {@code block} of {@code layers} is quantized. */
    public boolean quantizes(String kind, Integer block, int layers) {
        if (block == null) return false;
        boolean mlp = kind.equals("ffn_gate.weight") || kind.equals("ffn_up.weight") || kind.equals("ffn_down.weight");
        boolean attn = kind.equals("attn_q.weight") || kind.equals("attn_k.weight") || kind.equals("attn_v.weight") || kind.equals("attn_output.weight");
        if (!mlp && !(attn && !mlpOnly)) return false;
        return block >= protectFirstLast && block < layers - protectFirstLast;
    }

    @Override
    public String toString() {
        return mlpOnly ? "mlp-only" : protectFirstLast > 0 ? "protect-first-last=" + protectFirstLast : "all";
    }
}
