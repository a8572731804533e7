package dev.requant.runtime.cpu;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A fixed team of threads for data-parallel loops: the caller plus {@code n - 1} daemon workers. Each task gets the
 * index of the thread running it (0..n-1), so kernels can keep per-thread scratch buffers without locks.
 */
public final class CpuThreads implements AutoCloseable {
    /** A loop body: {@code worker} is the running thread's index, {@code i} the item. */
    @FunctionalInterface
    public interface Body {
        void run(int worker, int i);
    }

    private final int n;
    private final Thread[] workers;
    private final LinkedBlockingQueue<Runnable>[] inboxes;
    private volatile boolean closed;

    @SuppressWarnings("unchecked")
    public CpuThreads(int n) {
        if (n < 1) throw new IllegalArgumentException("thread count must be at least 1, got " + n);
        this.n = n;
        workers = new Thread[n - 1];
        inboxes = new LinkedBlockingQueue[n - 1];
        for (int w = 0; w < n - 1; w++) {
            LinkedBlockingQueue<Runnable> inbox = new LinkedBlockingQueue<>();
            inboxes[w] = inbox;
            Thread t = new Thread(() -> {
                while (!closed) {
                    try {
                        inbox.take().run();
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            }, "requant-cpu-" + (w + 1));
            t.setDaemon(true);
            t.start();
            workers[w] = t;
        }
    }

    public int size() { return n; }

    /**
     * Runs {@code body} for every i in [0, count), items handed out dynamically in order; returns when all are done.
     * An exception in any item is rethrown here after the others stop.
     */
    public void parallelFor(int count, Body body) {
        if (count <= 0) return;
        int used = Math.min(n, count);
        if (used == 1) {
            for (int i = 0; i < count; i++) body.run(0, i);
            return;
        }
        AtomicInteger next = new AtomicInteger();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        CountDownLatch done = new CountDownLatch(used - 1);
        for (int w = 1; w < used; w++) {
            int worker = w;
            inboxes[w - 1].add(() -> {
                try {
                    drain(worker, count, next, failure, body);
                } finally {
                    done.countDown();
                }
            });
        }
        drain(0, count, next, failure, body);
        try {
            done.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for worker threads", e);
        }
        Throwable t = failure.get();
        if (t instanceof RuntimeException re) throw re;
        if (t instanceof Error er) throw er;
        if (t != null) throw new IllegalStateException(t);
    }

    private static void drain(int worker, int count, AtomicInteger next, AtomicReference<Throwable> failure, Body body) {
        try {
            for (int i; failure.get() == null && (i = next.getAndIncrement()) < count; ) body.run(worker, i);
        } catch (Throwable t) {
            failure.compareAndSet(null, t);
        }
    }

    @Override
    public void close() {
        closed = true;
        for (Thread t : workers) t.interrupt();
    }
}
