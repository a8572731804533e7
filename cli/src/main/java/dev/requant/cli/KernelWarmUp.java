package dev.requant.cli;

import dev.requant.converter.qat.LatticeQ4_0Codec;
import dev.requant.formats.ggml.Bf16Rows;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.ggml.VectorSupport;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Starts compiling the vector kernels a command is about to need while the command plans its work and reads its
 * first tensors. The JIT turns Vector API code into vector instructions only in C2, after some thousands of calls;
 * on a 2-core machine that warm-up is a second or more of a quantization that takes two, so it runs on the second
 * core beside the work instead of before the first tensor. Judged from the raw arguments (before picocli has built
 * the command); a wrong guess costs only some CPU time on a daemon thread.
 */
final class KernelWarmUp {
    private KernelWarmUp() {}

    /** What to warm: the block codecs' kernels, and whether the QAT lattice solver too. */
    record Plan(List<GgmlType> kernels, boolean lattice) {
        static final Plan NONE = new Plan(List.of(), false);
    }

    private static volatile Plan pending = Plan.NONE;

    /** Judges the raw arguments (cheap); the threads start with {@link #start()}, when the command's work begins. */
    static void prepare(String[] args) {
        pending = plan(args);
    }

    /**
     * Starts the planned compilations, once. Called when the operation starts rather than at JVM start: on 2 cores a
     * compiler thread started before picocli delayed the work's start by 0.1-0.25 s, while started here it still
     * overlaps the planning, reading and the first rows.
     */
    static void start() {
        Plan plan = pending;
        pending = Plan.NONE;
        if (!plan.kernels().isEmpty()) VectorSupport.warmUpInBackground(plan.kernels().toArray(GgmlType[]::new));
        if (plan.lattice()) {
            // then the BF16 widening that the encoders read a billion weights through (Bf16Rows: its vector kernel
            // with the NaN/Inf check is 8x the plain loop once compiled)
            Thread t = new Thread(() -> {
                LatticeQ4_0Codec.warmUp();
                Bf16Rows.warmUp();
            }, "requant-warm-up-lattice");
            t.setDaemon(true);
            t.start();
        }
    }

    /**
     * quantize and convert to Q4_0/Q8_0 warm that encoder; convert to Q4_0 also the lattice unless --qat is off; a dry
     * run or a help request warms nothing.
     */
    static Plan plan(String[] args) {
        if (args.length == 0) return Plan.NONE;
        String command = args[0];
        if (!command.equals("quantize") && !command.equals("convert")) return Plan.NONE;
        boolean q4 = false, q8 = false, qatOff = false;
        for (int i = 1; i < args.length; i++) {
            String a = args[i].toLowerCase(Locale.ROOT);
            if (a.equals("--dry-run") || a.equals("--help") || a.equals("-h")) return Plan.NONE; // encodes nothing
            q4 |= a.equals("q4_0") || a.equals("--type=q4_0");
            q8 |= a.equals("q8_0") || a.equals("--type=q8_0");
            qatOff |= a.equals("--qat=off") || (a.equals("off") && args[i - 1].equals("--qat"));
        }
        List<GgmlType> kernels = new ArrayList<>();
        boolean lattice = command.equals("convert") && q4 && !qatOff;
        // with the lattice, llama.cpp's Q4_0 encoder runs only for tensors the plan finds off a lattice, and the plan
        // starts its warm-up then (QatPolicy): a QAT checkpoint never calls it
        if (q4 && !lattice) kernels.add(GgmlType.Q4_0);
        if (q8) kernels.add(GgmlType.Q8_0);
        return new Plan(List.copyOf(kernels), lattice);
    }
}
