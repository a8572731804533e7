package dev.requant.cli;

import dev.requant.converter.ConversionPlan;
import dev.requant.converter.Nvfp4Planning;
import dev.requant.converter.Nvfp4Split;
import java.io.PrintWriter;
import java.util.List;
import java.util.Locale;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** What a conversion does with an NVFP4 checkpoint's weights, for convert's output and its warnings. */
final class Nvfp4Summary {
    private static final Logger LOG = LoggerFactory.getLogger(Nvfp4Summary.class);

    private Nvfp4Summary() {}

    /** One line per outcome on stdout (nothing for float checkpoints). */
    static void print(ConversionPlan plan, PrintWriter out) {
        List<Nvfp4Planning.Kept> kept = Nvfp4Planning.kept(plan);
        List<String> deq = Nvfp4Planning.dequantized(plan);
        if (kept.isEmpty() && deq.isEmpty()) return;
        out.printf("nvfp4: %d weights kept as GGML NVFP4 (same codes and values), %d dequantized%n", kept.size(), deq.size());
        for (Nvfp4Split.Outcome o : Nvfp4Split.Outcome.values()) {
            List<Nvfp4Planning.Kept> k = kept.stream().filter(x -> x.split().outcome() == o).toList();
            if (k.isEmpty()) continue;
            String what = switch (o) {
                case UPSTREAM -> "scale applied by llama.cpp, split as convert_hf_to_gguf.py";
                case FOLDED -> "per-tensor scale folded into the block scales";
                case SHIFTED -> "scale dropped by llama.cpp, factor normalized away by the next RMSNorm";
                case SHIFTED_INEXACT -> "scale dropped by llama.cpp: it computes these weights times a factor";
                case FALLBACK -> "dequantized";
            };
            double lo = k.stream().mapToDouble(x -> x.split().residual()).min().orElse(1), hi = k.stream().mapToDouble(x -> x.split().residual()).max().orElse(1);
            out.printf("  %-16s %3d  %s%s%n", o.name().toLowerCase(Locale.ROOT), k.size(), what,
                    o == Nvfp4Split.Outcome.SHIFTED || o == Nvfp4Split.Outcome.SHIFTED_INEXACT
                            ? String.format(" (shift k=%d..%d, llama.cpp factor x%.3g..x%.3g)", k.stream().mapToInt(x -> x.split().shift()).min().orElse(0),
                                    k.stream().mapToInt(x -> x.split().shift()).max().orElse(0), lo, hi) : "");
        }
    }

    /** A warning on stderr when llama.cpp will not compute the checkpoint's values exactly. */
    static void warn(ConversionPlan plan) {
        List<Nvfp4Planning.Kept> inexact = Nvfp4Planning.kept(plan).stream().filter(k -> !k.split().exactInLlamaCpp()).toList();
        if (inexact.isEmpty()) return;
        LOG.warn("{} NVFP4 weights (e.g. {}) keep a per-tensor scale this llama.cpp does not apply (gemma3.cpp passes no FFN scales); "
                + "they are split as close to 1 as their block scales allow, and llama.cpp will run them x{}. For exact results use "
                + "--nvfp4-fallback bf16 (or q8_0).", inexact.size(), inexact.getFirst().ggufName(),
                String.format("%.3g", inexact.getFirst().split().residual()));
    }
}
