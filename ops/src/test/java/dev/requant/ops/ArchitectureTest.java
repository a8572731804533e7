package dev.requant.ops;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * ARCHITECTURE.md's module table, enforced: every main source file of a module may name (import, or write out in full)
 * only the requant modules its row allows, and the packages of a module do not import each other in a cycle.
 */
class ArchitectureTest {
    private static final Pattern ROW = Pattern.compile("^\\| `(\\w+)` \\|.*\\| ([^|]+) \\|$");
    private static final Pattern REF = Pattern.compile("\\bdev\\.requant\\.((\\w+)(?:\\.[a-z]\\w*)*)");

    private static Path root() {
        String p = System.getProperty("requant.root");
        return p != null ? Path.of(p) : Path.of("..").toAbsolutePath().normalize();
    }

    /** module -> modules it may use, as ARCHITECTURE.md's table says. */
    static Map<String, Set<String>> rules() throws IOException {
        Map<String, Set<String>> rules = new LinkedHashMap<>();
        for (String line : Files.readAllLines(root().resolve("ARCHITECTURE.md"))) {
            Matcher m = ROW.matcher(line.strip());
            if (!m.matches()) continue;
            Set<String> allowed = new TreeSet<>();
            for (String s : m.group(2).split(",")) if (!s.isBlank() && !s.strip().equals("-")) allowed.add(s.strip());
            rules.put(m.group(1), allowed);
        }
        return rules;
    }

    @Test
    void theTableNamesEveryModuleOfTheBuild() throws IOException {
        Set<String> modules = new TreeSet<>();
        Matcher m = Pattern.compile("<module>(\\w+)</module>").matcher(Files.readString(root().resolve("pom.xml")));
        while (m.find()) modules.add(m.group(1));
        assertThat(rules().keySet()).containsExactlyInAnyOrderElementsOf(modules);
    }

    @Test
    void modulesUseOnlyWhatTheTableAllows() throws IOException {
        Map<String, Set<String>> rules = rules();
        List<String> violations = new ArrayList<>();
        for (var e : rules.entrySet()) {
            String module = e.getKey();
            for (Path file : mainSources(module)) {
                for (String pkg : references(file)) {
                    String used = pkg.split("\\.")[0];
                    if (used.equals(module) || !rules.containsKey(used)) continue;
                    if (!e.getValue().contains(used)) violations.add(root().relativize(file) + " uses " + used + " (dev.requant." + pkg + ")");
                }
            }
        }
        assertThat(violations).as("imports that ARCHITECTURE.md does not allow").isEmpty();
    }

    @Test
    void packagesOfAModuleHaveNoCycles() throws IOException {
        List<String> cycles = new ArrayList<>();
        for (String module : rules().keySet()) {
            Map<String, Set<String>> graph = new TreeMap<>();
            for (Path file : mainSources(module)) {
                String pkg = packageOf(file);
                if (pkg != null) graph.putIfAbsent(pkg, new TreeSet<>()); // every package first: references resolve against all of them
            }
            for (Path file : mainSources(module)) {
                String pkg = packageOf(file);
                if (pkg == null) continue;
                Set<String> out = graph.computeIfAbsent(pkg, k -> new TreeSet<>());
                for (String ref : references(file)) {
                    String target = packageIn(ref, graph, module);
                    if (target != null && !target.equals(pkg)) out.add(target);
                }
            }
            for (List<String> scc : stronglyConnected(graph)) if (scc.size() > 1) cycles.add(module + ": " + scc);
        }
        assertThat(cycles).as("package cycles").isEmpty();
    }

    @Test
    void aCycleIsFound() {
        Map<String, Set<String>> g = new TreeMap<>();
        g.put("m.a", new TreeSet<>(Set.of("m.b")));
        g.put("m.b", new TreeSet<>(Set.of("m.c")));
        g.put("m.c", new TreeSet<>(Set.of("m.a")));
        g.put("m.d", new TreeSet<>(Set.of("m.a")));
        assertThat(stronglyConnected(g)).filteredOn(scc -> scc.size() > 1).singleElement()
                .satisfies(scc -> assertThat(scc).containsExactlyInAnyOrder("m.a", "m.b", "m.c"));
        assertThat(packageIn("m.b", g, "m")).isEqualTo("m.b");
    }

    private static List<Path> mainSources(String module) throws IOException {
        Path src = root().resolve(module).resolve("src/main/java");
        if (!Files.isDirectory(src)) return List.of();
        try (Stream<Path> s = Files.walk(src)) {
            return s.filter(p -> p.toString().endsWith(".java")).sorted().toList();
        }
    }

    /** The requant packages (and class paths) a file names outside comments and strings, without "dev.requant.". */
    static Set<String> references(Path file) throws IOException {
        String code = stripCommentsAndStrings(Files.readString(file));
        Set<String> refs = new TreeSet<>();
        Matcher m = REF.matcher(code);
        while (m.find()) {
            if (code.startsWith("package", lineStart(code, m.start()))) continue;
            refs.add(m.group(1));
        }
        return refs;
    }

    private static int lineStart(String s, int at) {
        int i = s.lastIndexOf('\n', at);
        return i + 1;
    }

    private static String packageOf(Path file) throws IOException {
        Matcher m = Pattern.compile("^package (dev\\.requant\\.[\\w.]+);", Pattern.MULTILINE).matcher(Files.readString(file));
        return m.find() ? m.group(1).substring("dev.requant.".length()) : null;
    }

    /** The longest known package of the module that {@code ref} (a package, or a package and lower-case parts) is in. */
    private static String packageIn(String ref, Map<String, Set<String>> graph, String module) {
        if (!ref.startsWith(module + ".") && !ref.equals(module)) return null;
        String best = null;
        String[] parts = ref.split("\\.");
        StringBuilder sb = new StringBuilder();
        for (String part : parts) {
            if (!sb.isEmpty()) sb.append('.');
            sb.append(part);
            if (graph.containsKey(sb.toString()) || sb.toString().equals(module)) best = sb.toString();
        }
        return best == null ? module : best;
    }

    static String stripCommentsAndStrings(String s) {
        StringBuilder out = new StringBuilder(s.length());
        int i = 0;
        while (i < s.length()) {
            char c = s.charAt(i);
            if (c == '/' && i + 1 < s.length() && s.charAt(i + 1) == '/') {
                while (i < s.length() && s.charAt(i) != '\n') i++;
            } else if (c == '/' && i + 1 < s.length() && s.charAt(i + 1) == '*') {
                int end = s.indexOf("*/", i + 2);
                i = end < 0 ? s.length() : end + 2;
            } else if (c == '"' && s.startsWith("\"\"\"", i)) {
                int end = s.indexOf("\"\"\"", i + 3);
                i = end < 0 ? s.length() : end + 3;
            } else if (c == '"' || c == '\'') {
                i++;
                while (i < s.length() && s.charAt(i) != c) i += s.charAt(i) == '\\' ? 2 : 1;
                i++;
            } else {
                out.append(c);
                i++;
            }
        }
        return out.toString();
    }

    /** Tarjan's strongly connected components. */
    private static List<List<String>> stronglyConnected(Map<String, Set<String>> graph) {
        Map<String, Integer> index = new HashMap<>(), low = new HashMap<>();
        Deque<String> stack = new ArrayDeque<>();
        Set<String> onStack = new TreeSet<>();
        List<List<String>> out = new ArrayList<>();
        int[] counter = {0};
        for (String v : graph.keySet()) if (!index.containsKey(v)) strong(v, graph, index, low, stack, onStack, out, counter);
        return out;
    }

    private static void strong(String v, Map<String, Set<String>> g, Map<String, Integer> index, Map<String, Integer> low,
            Deque<String> stack, Set<String> onStack, List<List<String>> out, int[] counter) {
        index.put(v, counter[0]);
        low.put(v, counter[0]++);
        stack.push(v);
        onStack.add(v);
        for (String w : g.getOrDefault(v, Set.of())) {
            if (!g.containsKey(w)) continue;
            if (!index.containsKey(w)) {
                strong(w, g, index, low, stack, onStack, out, counter);
                low.put(v, Math.min(low.get(v), low.get(w)));
            } else if (onStack.contains(w)) {
                low.put(v, Math.min(low.get(v), index.get(w)));
            }
        }
        if (low.get(v).equals(index.get(v))) {
            List<String> scc = new ArrayList<>();
            String w;
            do {
                w = stack.pop();
                onStack.remove(w);
                scc.add(w);
            } while (!w.equals(v));
            out.add(scc);
        }
    }
}
