package dev.requant.cli;

import dev.requant.converter.qat.LatticeQ4_0Codec;
import dev.requant.formats.ggml.Bf16Rows;
import dev.requant.formats.ggml.BlockCodec;
import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.ggml.VectorSupport;
import dev.requant.formats.gguf.FileType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;

/**
 * Starts compiling the vector kernels a command is about to need while the command plans its work and reads its
 * first tensors. The JIT turns Vector API code into vector instructions only in C2, after some thousands of calls;
 * on a 2-core machine that warm-up is a second or more of a quantization that takes two, so it runs on the second
 * core beside the work instead of before the first tensor. In the JVM without the Vector API, a cheap quantization's
 * plain encoders are warmed too, from the start ({@link #warmPlain}). Judged from the raw arguments (before picocli has
 * built the command); a wrong guess costs only some CPU time on a daemon thread.
 */
final class KernelWarmUp {
    private KernelWarmUp() {}

    /**
     * What to warm: the block codecs' vector kernels, whether the QAT lattice solver too, and the plain encoders of a
     * quantization in a JVM without the Vector API.
     */
    record Plan(List<GgmlType> kernels, boolean lattice, List<GgmlType> plain) {
        static final Plan NONE = new Plan(List.of(), false, List.of());
    }

    private static volatile Plan pending = Plan.NONE;

    /**
     * Judges the raw arguments (cheap). The vector kernels' threads start with {@link #start()}, when the command's work
     * begins; the plain encoders' at once (see {@link #warmPlain}).
     */
    static void prepare(String[] args) {
        Plan plan = plan(args);
        pending = plan;
        if (!VectorSupport.enabled() && !plan.plain().isEmpty()) {
            Thread t = new Thread(() -> warmPlain(plan.plain()), "requant-warm-up-plain");
            t.setDaemon(true);
            t.start();
        }
    }

    /** Weights per row of the plain warm-up; its calls of 8 rows of Q6_K (runs of super-blocks) and 1 row otherwise. */
    private static final int WARM_ROW = 4096, Q6_K_ROWS = 8, Q6_K_CALLS = 48, CALLS = 192;

    /**
     * The file types' own encoders that the plain warm-up runs (besides Q6_K, the token_embd and output of all of
     * them): the cheap ones, which a short quantization runs in the plain JVM. Not the IQ1/IQ2 searches, whose rows
     * would cost a CPU-tenth of a second.
     */
    private static final Set<GgmlType> PLAIN = EnumSet.of(GgmlType.Q1_0, GgmlType.Q2_0, GgmlType.TQ1_0, GgmlType.TQ2_0,
            GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K);

    /**
     * The plain encoders of a short quantization, on synthetic rows, beside picocli and the planning: C2 compiles the
     * encoders' kernels one after another, 30-60 ms each, so the first tensors ran in C1's code for a quarter of a
     * second, while during start-up the second core is mostly idle. Run here, the kernels reach C2 about 0.1 s sooner
     * (Q6_K's LaneQxBlocks.sums 0.14 s after the JVM's start instead of 0.23 s); the cheap quantizations of the
     * 127 M-weight file took 0.96-0.98 of the time for the same CPU (BENCHMARKS.md, "Two C2 threads"). It encodes
     * 1.5 M weights as Q6_K and 0.8 M with the file type's own encoder.
     */
    static void warmPlain(List<GgmlType> types) {
        float[] x = new float[WARM_ROW * Q6_K_ROWS];
        int seed = 12345;
        for (int i = 0; i < x.length; i++) { // a linear congruential sequence: no Math.sin or Random to load and compile
            seed = seed * 1103515245 + 12345;
            x[i] = ((seed >>> 8) & 0xFFFF) / 65536f - 0.5f;
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment dst = arena.allocate(GgmlType.F32.rowBytes(WARM_ROW) * Q6_K_ROWS); // more than any of them writes
            for (GgmlType type : types) {
                BlockCodec codec = BlockCodec.of(type);
                boolean q6k = type == GgmlType.Q6_K;
                for (int c = 0; c < (q6k ? Q6_K_CALLS : CALLS); c++) codec.encodeRows(x, 0, WARM_ROW, q6k ? Q6_K_ROWS : 1, null, dst, 0);
            }
        }
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
            // the lattice solver and the BF16 widening that the encoders read a billion weights through (Bf16Rows: its
            // vector kernel with the NaN/Inf check is 8x the plain loop once compiled), the widening's warm-up in the
            // middle of the solver's, while C2 compiles the solver's batch kernel: the plan's sampled fit waits for the
            // solver's warm-up and then reads its rows through the widening. One after the other (the widening first),
            // the solver's batch kernel was queued for C2 at 1.1 s of the JVM's time on a 2-core VM, now at 0.9 s.
            Thread t = new Thread(() -> LatticeQ4_0Codec.warmUp(Bf16Rows::warmUp), "requant-warm-up-lattice");
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
        return new Plan(List.copyOf(kernels), lattice, command.equals("quantize") ? plainEncoders(args) : List.of());
    }

    /**
     * Q6_K and the named file type's encoder, where that is one of {@link #PLAIN}: the type is the first argument that
     * is neither an option nor the value of one and names a file type (a number could be the thread count).
     */
    static List<GgmlType> plainEncoders(String[] args) {
        for (int i = 1; i < args.length; i++) {
            String a = args[i];
            boolean optionValue = args[i - 1].startsWith("-") && !args[i - 1].contains("=");
            if (a.startsWith("-") || optionValue || a.chars().allMatch(Character::isDigit)) continue;
            Optional<FileType> type = FileType.parse(a);
            if (type.isEmpty()) continue;
            GgmlType own = type.get().defaultType();
            if (!PLAIN.contains(own)) return List.of();
            return own == GgmlType.Q6_K ? List.of(GgmlType.Q6_K) : List.of(GgmlType.Q6_K, own);
        }
        return List.of();
    }
}
