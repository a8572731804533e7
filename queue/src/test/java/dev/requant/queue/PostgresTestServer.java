package dev.requant.queue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.util.Locale;
import java.util.UUID;
import org.junit.jupiter.api.Assumptions;

/**
 * The PostgreSQL server that scripts/test-prepare-postgres.sh started: its URL comes from REQUANT_TEST_POSTGRES_URL or
 * from the file the script writes ($REQUANT_TEST_PG_DIR/url, default /tmp/requant-test-postgres/url). Each test gets
 * a database of its own. Without a server the tests are skipped with the reason, unless REQUANT_REQUIRE_POSTGRES=1
 * (test.sh sets it, so CI fails instead of skipping).
 */
final class PostgresTestServer {
    private PostgresTestServer() {}

    /** The postgresql:// URL of the server's maintenance database, or a skip/failure. */
    static String url() {
        String url = System.getenv("REQUANT_TEST_POSTGRES_URL");
        String why;
        if (url == null || url.isBlank()) {
            String dir = System.getenv().getOrDefault("REQUANT_TEST_PG_DIR", "/tmp/requant-test-postgres");
            Path file = Path.of(dir, "url");
            try {
                url = Files.isRegularFile(file) ? Files.readString(file).trim() : null;
            } catch (Exception e) {
                url = null;
            }
            why = "no PostgreSQL for the tests: REQUANT_TEST_POSTGRES_URL is not set and " + file
                    + " does not exist (run scripts/test-prepare-postgres.sh)";
        } else {
            why = null;
        }
        if (url != null) {
            try (Connection c = connect(url, null)) {
                return url;
            } catch (Exception e) {
                why = "PostgreSQL at " + url + " is not reachable: " + e.getMessage() + " (run scripts/test-prepare-postgres.sh)";
            }
        }
        if ("1".equals(System.getenv("REQUANT_REQUIRE_POSTGRES"))) {
            throw new AssertionError(why + "; REQUANT_REQUIRE_POSTGRES=1 makes this a failure");
        }
        Assumptions.abort(why);
        return null;
    }

    /** Creates a fresh database and returns its postgresql:// URL. */
    static String createDatabase(String serverUrl) throws Exception {
        String name = "requant_test_" + UUID.randomUUID().toString().replace("-", "").substring(0, 12).toLowerCase(Locale.ROOT);
        try (Connection c = connect(serverUrl, null); Statement st = c.createStatement()) {
            st.execute("CREATE DATABASE " + name);
        }
        return withDatabase(serverUrl, name);
    }

    static void dropDatabase(String serverUrl, String databaseUrl) {
        String name = databaseUrl.substring(databaseUrl.lastIndexOf('/') + 1);
        try (Connection c = connect(serverUrl, null); Statement st = c.createStatement()) {
            st.execute("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
        } catch (Exception ignored) {
            // a leftover test database in a throwaway cluster
        }
    }

    static String withDatabase(String url, String db) {
        int slash = url.indexOf('/', "postgresql://".length());
        return (slash < 0 ? url : url.substring(0, slash)) + "/" + db;
    }

    private static Connection connect(String url, String db) throws Exception {
        var u = java.net.URI.create(url);
        String user = u.getUserInfo() == null ? null : u.getUserInfo().split(":")[0];
        String jdbc = "jdbc:postgresql://" + u.getHost() + ":" + (u.getPort() < 0 ? 5432 : u.getPort()) + u.getPath();
        var props = new java.util.Properties();
        if (user != null) props.setProperty("user", user);
        props.setProperty("connectTimeout", "5");
        return DriverManager.getConnection(jdbc, props);
    }
}
