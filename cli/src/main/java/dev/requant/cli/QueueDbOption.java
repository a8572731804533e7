package dev.requant.cli;

import dev.requant.queue.JobQueue;
import dev.requant.queue.QueueDatabase;
import java.io.IOException;
import java.sql.SQLException;
import picocli.CommandLine.Option;

/** The --db option every queue subcommand takes. */
final class QueueDbOption {
    @Option(names = "--db", paramLabel = "DB",
            description = {"Queue database: a SQLite file, or postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE for",
                "workers on several machines. Default: $REQUANT_QUEUE_DB, else ${DEFAULT-VALUE}."},
            defaultValue = "${env:REQUANT_QUEUE_DB:-" + QueueDatabase.DEFAULT_LOCATION + "}")
    String db;

    /** Opens the queue; {@code create}: whether a missing SQLite file may be created (add, run). */
    QueueDatabase open(boolean create) throws IOException, SQLException {
        return QueueDatabase.open(db, create);
    }

    JobQueue queue(boolean create) throws IOException, SQLException {
        return new JobQueue(open(create));
    }
}
