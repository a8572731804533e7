package dev.requant.queue;

import java.io.IOException;
import java.sql.Connection;
import java.sql.SQLException;

/** Runs a unit of work in one transaction on its own connection, retrying the whole unit on a conflict. */
final class Transactions {
    private Transactions() {}

    @FunctionalInterface
    interface Work<T> {
        T run(Connection c) throws SQLException, IOException;
    }

    static <T> T run(QueueDatabase db, Work<T> work) throws SQLException, IOException {
        try (Connection c = db.connect()) {
            return run(c, work);
        }
    }

    /**
     * On PostgreSQL two concurrent `add`s of the same source can both try to insert the same step (unique output):
     * one gets a unique violation (23505) and is run again, then finds the step and shares it. Serialization failures
     * (40001) and deadlocks (40P01) are retried the same way.
     */
    static <T> T run(Connection c, Work<T> work) throws SQLException, IOException {
        for (int attempt = 1; ; attempt++) {
            c.setAutoCommit(false);
            try {
                T result = work.run(c);
                c.commit();
                return result;
            } catch (SQLException e) {
                rollbackQuietly(c);
                String state = e.getSQLState();
                boolean retry = "23505".equals(state) || "40001".equals(state) || "40P01".equals(state);
                if (!retry || attempt >= 5) throw e;
            } catch (IOException | RuntimeException e) {
                rollbackQuietly(c);
                throw e;
            } finally {
                c.setAutoCommit(true);
            }
        }
    }

    private static void rollbackQuietly(Connection c) {
        try {
            c.rollback();
        } catch (SQLException ignored) {
            // the connection is broken; the caller sees the original error
        }
    }
}
