package dev.requant.queue;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;

/** Prepared statements with positional parameters, the few shapes this module uses. */
final class Sql {
    private Sql() {}

    static int update(Connection c, String sql, Object... params) throws SQLException {
        try (PreparedStatement ps = prepare(c, sql, params)) {
            return ps.executeUpdate();
        }
    }

    /** INSERT ... RETURNING id (SQLite 3.35+ and PostgreSQL both have RETURNING). */
    static long insert(Connection c, String sql, Object... params) throws SQLException {
        try (PreparedStatement ps = prepare(c, sql + " RETURNING id", params); ResultSet rs = ps.executeQuery()) {
            if (!rs.next()) throw new SQLException("insert returned no id: " + sql);
            return rs.getLong(1);
        }
    }

    static PreparedStatement prepare(Connection c, String sql, Object... params) throws SQLException {
        PreparedStatement ps = c.prepareStatement(sql);
        try {
            for (int i = 0; i < params.length; i++) {
                Object p = params[i];
                if (p == null) ps.setNull(i + 1, Types.NULL);
                else if (p instanceof Integer n) ps.setInt(i + 1, n);
                else if (p instanceof Long n) ps.setLong(i + 1, n);
                else if (p instanceof Double d) ps.setDouble(i + 1, d);
                else ps.setString(i + 1, p.toString());
            }
            return ps;
        } catch (SQLException | RuntimeException e) {
            ps.close();
            throw e;
        }
    }

    static Long longOrNull(ResultSet rs, String column) throws SQLException {
        long v = rs.getLong(column);
        return rs.wasNull() ? null : v;
    }

    static Double doubleOrNull(ResultSet rs, String column) throws SQLException {
        double v = rs.getDouble(column);
        return rs.wasNull() ? null : v;
    }
}
