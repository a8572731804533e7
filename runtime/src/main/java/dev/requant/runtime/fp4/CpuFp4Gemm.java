package dev.requant.runtime.fp4;

import dev.requant.runtime.cpu.CpuThreads;
import java.lang.foreign.MemorySegment;

/** {@link W4a4Reference} on the CPU threads: activation rows quantized in parallel, then output rows in parallel. */
public final class CpuFp4Gemm implements Fp4Gemm {
    private static final int ROWS_PER_ITEM = 32;
    private final CpuThreads threads;

    public CpuFp4Gemm(CpuThreads threads) {
        this.threads = threads;
    }

    @Override
    public void multiply(String weightName, MemorySegment weight, int rows, int cols, float[] x, int nRows, float gs, float alpha, float[] y) {
        byte[] codes = new byte[nRows * cols];
        byte[] scales = new byte[nRows * (cols / 16)];
        threads.parallelFor(nRows, (w, t) -> Nvfp4Activations.quantizeRow(x, t * cols, cols, gs, codes, t * cols, scales, t * (cols / 16)));
        int items = (rows + ROWS_PER_ITEM - 1) / ROWS_PER_ITEM;
        threads.parallelFor(items, (w, i) -> W4a4Reference.multiply(codes, scales, nRows, weight, rows, cols, alpha, y, rows,
                i * ROWS_PER_ITEM, Math.min(rows, (i + 1) * ROWS_PER_ITEM)));
    }

    @Override
    public String description() { return "CPU emulation (" + threads.size() + " threads)"; }
}
