package dev.requant.runtime.cpu;

import dev.requant.formats.imatrix.Imatrix;
import dev.requant.formats.imatrix.ImatrixAccumulator;
import dev.requant.runtime.ForwardBatch;
import dev.requant.runtime.ForwardSession;
import dev.requant.runtime.ImatrixObserver;
import dev.requant.runtime.SessionSpec;
import dev.requant.formats.model.GemmaConfig;

/**
 * {@link ForwardSession} on a {@link CpuModel}: each sequence of a batch runs in its own pass of one {@link CpuSession}
 * from an empty cache (the same arithmetic as llama.cpp's separate sequences). Collection goes through an
 * {@link ImatrixObserver} that adds the collected rows to the spec's accumulator in batch order, so the float sums
 * round as llama-imatrix's do and a resumed run continues them exactly. Logits go to the batch's sink row by row.
 */
public final class CpuForwardSession implements ForwardSession {
    private final CpuModel model;
    private final boolean ownsModel;
    private final SessionSpec spec;
    private final CpuSession session;
    private final ImatrixAccumulator acc;
    private final ImatrixObserver observer;

    /** @param ownsModel whether {@link #close} closes the model (and with it a thread team it owns) */
    public CpuForwardSession(CpuModel model, SessionSpec spec, boolean ownsModel) {
        this.model = model;
        this.ownsModel = ownsModel;
        this.spec = spec;
        this.session = model.newSession(spec.sequenceLength());
        this.acc = spec.collectInto();
        this.observer = acc == null ? null : new ImatrixObserver(acc, spec.processOutput());
    }

    @Override
    public GemmaConfig config() { return model.config(); }

    @Override
    public String description() { return "cpu, " + model.threads().size() + " threads"; }

    @Override
    public SessionSpec spec() { return spec; }

    @Override
    public void run(ForwardBatch b) {
        int n = spec.sequenceLength();
        // any number of sequences: they run one after another
        if (b.tokens().length < b.sequences() * n) {
            throw new IllegalArgumentException(b.tokens().length + " tokens do not hold " + b.sequences() + " sequences of " + n);
        }
        if (b.scoring() != null) throw new UnsupportedOperationException(description() + " scores logits on the host");
        boolean collect = b.collectedRows() != null;
        if (collect && observer == null) throw new IllegalStateException("this session was not opened to collect");
        session.setObserver(collect ? observer : null);
        for (int s = 0; s < b.sequences(); s++) {
            if (collect) observer.setRows(b.collectedRows(), s * n);
            session.clear();
            if (b.outRows() == 0) {
                session.observe(b.tokens(), s * n, n);
            } else {
                int seq = s, from = b.outFrom(), to = b.outTo();
                ForwardSession.LogitsSink sink = b.logits();
                session.decode(b.tokens(), s * n, n, r -> r >= from && r < to, (row, l, off) -> sink.accept(seq, row, l, off));
            }
        }
    }

    @Override
    public int lastChunk() { return acc == null ? 0 : acc.lastChunk(); }

    @Override
    public Imatrix collected(String dataset) {
        if (acc == null) throw new IllegalStateException("this session was not opened to collect");
        return acc.snapshot(dataset);
    }

    @Override
    public void close() {
        if (ownsModel) model.close();
    }
}
