package dev.requant.cli;

import dev.requant.formats.TerminalText;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;

/**
 * A plain aligned text table: left-aligned text, right-aligned numbers, two spaces between columns. Cells are printed
 * through {@link TerminalText#escape}: they hold names from files and databases, which may hold terminal escapes.
 */
public final class TextTable {
    private final String[] header;
    private final boolean[] rightAligned;
    private final List<String[]> rows = new ArrayList<>();

    /** Column names; a name starting with '>' is right-aligned (the '>' is not printed). */
    public TextTable(String... columns) {
        header = new String[columns.length];
        rightAligned = new boolean[columns.length];
        for (int i = 0; i < columns.length; i++) {
            rightAligned[i] = columns[i].startsWith(">");
            header[i] = rightAligned[i] ? columns[i].substring(1) : columns[i];
        }
    }

    public TextTable row(Object... cells) {
        String[] r = new String[header.length];
        for (int i = 0; i < r.length; i++) r[i] = i < cells.length && cells[i] != null ? TerminalText.escape(cells[i]) : "";
        rows.add(r);
        return this;
    }

    public void print(PrintWriter out, String indent) {
        int[] w = new int[header.length];
        for (int i = 0; i < w.length; i++) w[i] = header[i].length();
        for (String[] r : rows) for (int i = 0; i < w.length; i++) w[i] = Math.max(w[i], r[i].length());
        line(out, indent, header, w);
        for (String[] r : rows) line(out, indent, r, w);
    }

    private void line(PrintWriter out, String indent, String[] cells, int[] w) {
        StringBuilder sb = new StringBuilder(indent);
        for (int i = 0; i < cells.length; i++) {
            if (i > 0) sb.append("  ");
            String c = cells[i];
            boolean last = i == cells.length - 1;
            if (rightAligned[i]) sb.append(" ".repeat(w[i] - c.length())).append(c);
            else sb.append(c).append(last ? "" : " ".repeat(w[i] - c.length()));
        }
        out.println(sb.toString().stripTrailing());
    }
}
