package dev.requant.runtime.imatrix;

import dev.requant.formats.imatrix.Imatrix;
import dev.requant.formats.imatrix.ImatrixAccumulator;
import dev.requant.runtime.cpu.CpuModel;
import dev.requant.runtime.cpu.CpuSession;

/**
 * Collection on the CPU forward pass: each chunk of a batch runs in its own pass from an empty cache (the same
 * arithmetic as llama.cpp's separate sequences), and the {@link ImatrixObserver} adds the collected rows to the
 * accumulator in batch order, so the float sums round as llama-imatrix's do and a resumed run continues them exactly.
 */
public final class CpuImatrixBackend implements ImatrixBackend {
    private final CpuModel model;
    private final ImatrixAccumulator acc;
    private final ImatrixObserver observer;
    private final boolean ownsModel;
    private CpuSession session;

    /**
     * @param acc the running state (empty, or a loaded file to continue); the backend adds to it
     * @param ownsModel whether {@link #close} closes the model
     */
    public CpuImatrixBackend(CpuModel model, ImatrixAccumulator acc, boolean processOutput, boolean ownsModel) {
        this.model = model;
        this.ownsModel = ownsModel;
        this.acc = acc;
        this.observer = new ImatrixObserver(acc, processOutput);
    }

    @Override
    public String description() { return "cpu, " + model.threads().size() + " threads"; }

    @Override
    public void run(int[] tokens, int nSeq, int nCtx, int[] collectedRows) {
        if (session == null || session.contextSize() != nCtx) {
            session = model.newSession(nCtx);
            session.setObserver(observer);
        }
        for (int s = 0; s < nSeq; s++) {
            observer.setRows(collectedRows, s * nCtx);
            session.clear();
            session.observe(tokens, s * nCtx, nCtx);
        }
    }

    @Override
    public int lastChunk() { return acc.lastChunk(); }

    @Override
    public Imatrix snapshot(String dataset) { return acc.snapshot(dataset); }

    @Override
    public void close() {
        if (ownsModel) model.close();
    }
}
