package dev.requant.queue;

import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.URLDecoder;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Map;
import javax.sql.DataSource;
import org.flywaydb.core.Flyway;
import org.flywaydb.core.api.FlywayException;
import org.postgresql.ds.PGSimpleDataSource;
import org.sqlite.SQLiteConfig;
import org.sqlite.SQLiteDataSource;

/**
 * Where the queue's state lives: an embedded SQLite file (one machine) or a PostgreSQL database (workers on several
 * machines). Both hold the same schema, created and upgraded by Flyway from the versioned SQL files under
 * {@code db/requant-queue} on the class path.
 *
 * <p>{@code --db} values: a file path (SQLite; {@code sqlite:PATH} and {@code jdbc:sqlite:PATH} also work), a
 * {@code postgresql://user:password@host:port/database?options} URL (libpq style), or a {@code jdbc:postgresql:} URL.
 */
public final class QueueDatabase {
    /** The default --db: a SQLite file in the current directory. */
    public static final String DEFAULT_LOCATION = "requant-queue.db";

    public enum Dialect { SQLITE, POSTGRESQL }

    static {
        // Flyway reports every migration check at INFO; with slf4j-simple that is noise on every command's stderr.
        if (System.getProperty("org.slf4j.simpleLogger.log.org.flywaydb") == null) {
            System.setProperty("org.slf4j.simpleLogger.log.org.flywaydb", "warn");
        }
    }

    private static final String MIGRATIONS = "classpath:db/requant-queue";
    private static final String HISTORY_TABLE = "queue_schema_history";

    private final Dialect dialect;
    private final String description;
    private final DataSource dataSource;
    private volatile String queueId;

    private QueueDatabase(Dialect dialect, String description, DataSource ds) {
        this.dialect = dialect;
        this.description = description;
        this.dataSource = ds;
    }

    /**
     * Opens the queue at {@code location} and brings its schema to the newest version.
     *
     * @param create whether a missing SQLite file may be created (false: a missing file is an error, so that a typo in
     *               {@code --db} for {@code status} does not silently show an empty queue)
     */
    public static QueueDatabase open(String location, boolean create) throws IOException, SQLException {
        QueueDatabase db = at(location);
        if (db.dialect == Dialect.SQLITE) {
            Path file = Path.of(db.description);
            if (!create && !Files.exists(file)) {
                throw new IOException(file + ": no queue database here (add a job first with `requant queue add`, or pass --db)");
            }
            Path dir = file.toAbsolutePath().getParent();
            if (dir != null && !Files.isDirectory(dir)) {
                throw new IOException(file + ": directory " + dir + " does not exist");
            }
        }
        db.migrate();
        db.queueId = db.identity();
        return db;
    }

    /**
     * This queue's id, made once when the schema is created and the same for every process that opens it: staging
     * files and output ownership markers carry it (two queue databases may share an output folder).
     */
    public String queueId() { return queueId; }

    /** Reads the queue's id, making it first if this database has none yet (race-free: the first insert wins). */
    private String identity() throws SQLException {
        try (Connection c = connect()) {
            Sql.update(c, "INSERT INTO queue_identity (name, value) VALUES ('queue_id', ?) ON CONFLICT (name) DO NOTHING",
                    java.util.UUID.randomUUID().toString());
            try (var q = Sql.prepare(c, "SELECT value FROM queue_identity WHERE name = 'queue_id'"); ResultSet rs = q.executeQuery()) {
                if (!rs.next()) throw new SQLException(description + ": the queue has no id");
                return rs.getString(1);
            }
        }
    }

    /**
     * Whether an error will not go away by trying again: a damaged or non-SQLite file (SQLITE_CORRUPT, SQLITE_NOTADB),
     * a read-only database, or on PostgreSQL data corruption (XX), a missing table or column (42), failed
     * authentication (28) or a missing database (3D). A worker stops on these instead of retrying forever; it keeps
     * retrying connection failures and lock timeouts, which do end.
     */
    public static boolean permanent(SQLException e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof org.sqlite.SQLiteException s) {
                int primary = s.getResultCode().code & 0xFF;
                if (primary == 11 || primary == 26 || primary == 8) return true;
            }
            if (t instanceof SQLException q && q.getSQLState() != null) {
                String state = q.getSQLState();
                if (state.startsWith("XX") || state.startsWith("42") || state.startsWith("28") || state.startsWith("3D")) return true;
            }
        }
        return false;
    }

    /** Parses a --db value without touching the database. */
    static QueueDatabase at(String location) throws IOException {
        if (location == null || location.isBlank()) location = DEFAULT_LOCATION;
        if (location.startsWith("postgresql://") || location.startsWith("postgres://")) return postgresFromUri(location);
        if (location.startsWith("jdbc:postgresql:")) {
            var ds = new PGSimpleDataSource();
            ds.setURL(location);
            return new QueueDatabase(Dialect.POSTGRESQL, redact(location), ds);
        }
        String path = location;
        if (path.startsWith("jdbc:sqlite:")) path = path.substring("jdbc:sqlite:".length());
        else if (path.startsWith("sqlite:")) path = path.substring("sqlite:".length());
        if (path.contains("://")) throw new IOException(location + ": unknown database URL (use a file path for SQLite or postgresql://...)");
        String url = "jdbc:sqlite:" + Path.of(path).toAbsolutePath();
        SQLiteConfig config = new SQLiteConfig();
        // Several worker processes share the file: wait for the write lock instead of failing at once, write-ahead log
        // so that readers (status) never block the writer, FULL sync so a committed state change survives power loss.
        config.setBusyTimeout(60_000);
        config.setJournalMode(SQLiteConfig.JournalMode.WAL);
        config.setSynchronous(SQLiteConfig.SynchronousMode.FULL);
        config.enforceForeignKeys(true);
        // Every transaction starts with BEGIN IMMEDIATE: it takes the single writer lock up front, so the lease
        // transaction (read candidates, then update one) cannot be raced by another process between read and write.
        config.setTransactionMode(SQLiteConfig.TransactionMode.IMMEDIATE);
        SQLiteDataSource ds = new SQLiteDataSource(config);
        ds.setUrl(url);
        return new QueueDatabase(Dialect.SQLITE, path, ds);
    }

    private static QueueDatabase postgresFromUri(String location) throws IOException {
        URI uri;
        try {
            uri = new URI(location);
        } catch (URISyntaxException e) {
            throw new IOException(redact(location) + ": not a valid postgresql:// URL: " + e.getReason());
        }
        String host = uri.getHost() == null ? "localhost" : uri.getHost();
        int port = uri.getPort() < 0 ? 5432 : uri.getPort();
        String database = uri.getPath() == null || uri.getPath().length() <= 1 ? "" : uri.getPath().substring(1);
        StringBuilder url = new StringBuilder("jdbc:postgresql://").append(host.contains(":") ? "[" + host + "]" : host)
                .append(':').append(port).append('/').append(database);
        if (uri.getRawQuery() != null) url.append('?').append(uri.getRawQuery());
        var ds = new PGSimpleDataSource();
        ds.setURL(url.toString());
        if (uri.getRawUserInfo() != null) {
            String[] parts = uri.getRawUserInfo().split(":", 2);
            String user = URLDecoder.decode(parts[0], StandardCharsets.UTF_8);
            ds.setUser(user);
            if (parts.length == 2) {
                String password = URLDecoder.decode(parts[1], StandardCharsets.UTF_8);
                ds.setPassword(password);
            }
        }
        return new QueueDatabase(Dialect.POSTGRESQL, redact(location), ds);
    }

    /** The location without a password, for messages. */
    static String redact(String location) {
        return location.replaceAll("(://[^:/@]*:)[^@/]*@", "$1***@").replaceAll("(?i)(password=)[^&]*", "$1***");
    }

    public Dialect dialect() { return dialect; }

    /** The database for messages: the SQLite path or the URL without its password. */
    public String description() { return description; }

    /** A new connection in auto-commit mode; the caller closes it. */
    public Connection connect() throws SQLException {
        Connection c = dataSource.getConnection();
        c.setAutoCommit(true);
        return c;
    }

    /** The clock leases are measured with, in epoch milliseconds: the database server's on PostgreSQL. */
    long now(Connection c) throws SQLException {
        if (dialect == Dialect.SQLITE) return System.currentTimeMillis();
        try (Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)")) {
            rs.next();
            return rs.getLong(1);
        }
    }

    private void migrate() throws IOException, SQLException {
        String idColumn = dialect == Dialect.SQLITE
                ? "INTEGER PRIMARY KEY"  // an alias of the rowid: ids are assigned in insertion order
                : "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY";
        Flyway flyway = Flyway.configure(QueueDatabase.class.getClassLoader())
                .dataSource(dataSource)
                .locations(MIGRATIONS)
                .table(HISTORY_TABLE)
                .placeholders(Map.of("id_column", idColumn))
                .baselineOnMigrate(false)
                .load();
        try {
            if (dialect == Dialect.SQLITE) {
                // Flyway serialises concurrent migrations on PostgreSQL with an advisory lock, but has no lock for
                // SQLite: two workers started together would both try to create the tables. A lock file beside the
                // database stands in (not the database file itself: POSIX locks on it would clash with SQLite's).
                Path lockFile = Path.of(description + ".migrate-lock").toAbsolutePath();
                try (FileChannel ch = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
                     FileLock ignored = ch.lock()) {
                    flyway.migrate();
                }
            } else {
                flyway.migrate();
            }
        } catch (FlywayException e) {
            Throwable cause = e;
            while (cause.getCause() != null && !(cause instanceof SQLException)) cause = cause.getCause();
            String why = cause instanceof SQLException s ? s.getMessage() : e.getMessage();
            throw new SQLException(description + ": cannot open the queue database: " + why, e);
        }
    }
}
