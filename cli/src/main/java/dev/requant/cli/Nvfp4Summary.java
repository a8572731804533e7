package dev.requant.cli;

import dev.requant.converter.Nvfp4Planning;
import dev.requant.converter.Nvfp4Split;
import java.io.PrintWriter;
import java.util.List;
import java.util.Locale;

/** What a conversion did with an NVFP4 checkpoint's weights, for convert's output. */
final class Nvfp4Summary {
    private Nvfp4Summary() {}

    /** One line per outcome on stdout (nothing for float checkpoints). */
    static void print(List<Nvfp4Planning.Kept> kept, List<String> deq, PrintWriter out) {
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
}
