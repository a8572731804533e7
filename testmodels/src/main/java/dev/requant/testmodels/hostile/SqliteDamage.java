package dev.requant.testmodels.hostile;

import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;

/**
 * A permanently damaged SQLite queue database (issue 18.5): one table's root page with a b-tree header SQLite rejects,
 * so that every read of the table fails with SQLITE_CORRUPT ("database disk image is malformed") while the rest of
 * the file, the schema included, still opens. Needs the sqlite-jdbc driver on the class path (the queue has it).
 */
public final class SqliteDamage {
    private SqliteDamage() {}

    public static void corruptTable(Path file, String table) throws Exception {
        long root, pageSize;
        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + file); Statement st = c.createStatement()) {
            try (ResultSet rs = st.executeQuery("SELECT rootpage FROM sqlite_master WHERE type = 'table' AND name = '" + table.replace("'", "''") + "'")) {
                if (!rs.next()) throw new IllegalArgumentException(file + " has no table " + table);
                root = rs.getLong(1);
            }
            try (ResultSet rs = st.executeQuery("PRAGMA page_size")) {
                rs.next();
                pageSize = rs.getLong(1);
            }
            st.execute("PRAGMA wal_checkpoint(TRUNCATE)");  // the page must be in the main file, not only in the log
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(new byte[] {(byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF}), (root - 1) * pageSize);
        }
    }
}
