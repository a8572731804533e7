package dev.requant.ops.convert;

import dev.requant.converter.ConversionPlan;
import dev.requant.converter.Nvfp4Planning;
import dev.requant.ops.OperationContext;
import java.util.List;
import java.util.Locale;

/** The warning a conversion of an NVFP4 checkpoint owes the user when llama.cpp will not compute its values exactly. */
final class Nvfp4Notices {
    private Nvfp4Notices() {}

    static void warn(ConversionPlan plan, OperationContext ctx) {
        List<Nvfp4Planning.Kept> inexact = Nvfp4Planning.kept(plan).stream().filter(k -> !k.split().exactInLlamaCpp()).toList();
        if (inexact.isEmpty()) return;
        ctx.notice(inexact.size() + " NVFP4 weights (e.g. " + inexact.getFirst().ggufName() + ") keep a per-tensor scale this"
                + " llama.cpp does not apply (gemma3.cpp passes no FFN scales); they are split as close to 1 as their block"
                + " scales allow, and llama.cpp will run them x" + String.format(Locale.ROOT, "%.3g", inexact.getFirst().split().residual())
                + ". For exact results use --nvfp4-fallback bf16 (or q8_0).");
    }
}
