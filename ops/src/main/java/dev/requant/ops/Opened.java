package dev.requant.ops;

import java.util.ArrayList;
import java.util.List;

/**
 * What an operation opened as it went (model sources, sessions, a writer), closed in reverse order when it ends.
 * Closing errors are dropped: these are read-only inputs, and an uncommitted writer whose close only deletes its
 * temporary file; the operation's own outcome is what the caller needs to see.
 */
public final class Opened implements AutoCloseable {
    private final List<AutoCloseable> items = new ArrayList<>();

    /** Keeps {@code item} open until {@link #close}; returns it. */
    public <T extends AutoCloseable> T add(T item) {
        items.add(item);
        return item;
    }

    @Override
    public void close() {
        for (int i = items.size() - 1; i >= 0; i--) {
            try {
                items.get(i).close();
            } catch (Exception e) {
                // see the class comment
            }
        }
        items.clear();
    }
}
