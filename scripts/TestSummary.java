import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * test.sh's last line: how many tests ran, failed and were skipped, and why the skipped ones were, grouped by reason
 * (the reasons are otherwise only in target/surefire-reports/*.xml). Run as `java scripts/TestSummary.java [ROOT]`.
 */
public class TestSummary {
    private static final Pattern CASE = Pattern.compile("<testcase\\b([^>]*?)(/>|>(.*?)</testcase>)", Pattern.DOTALL);
    // the reason is in message="..." or, for a JUnit assumption, on the first line of the CDATA stack trace
    private static final Pattern SKIPPED = Pattern.compile(
            "<skipped(?:[^>]*?\\smessage=\"([^\"]*)\")?[^>]*?(?:/>|>(?:<!\\[CDATA\\[)?(?:[\\w.$]+Exception: )?([^\\n]*))");

    public static void main(String[] args) throws IOException {
        Path root = Path.of(args.length > 0 ? args[0] : ".");
        List<Path> reports = new ArrayList<>();
        try (Stream<Path> s = Files.find(root, 4, (p, a) -> p.getFileName().toString().matches("TEST-.*\\.xml")
                && p.getParent().getFileName().toString().matches("(surefire|failsafe)-reports"))) {
            s.sorted().forEach(reports::add);
        }
        int tests = 0, failed = 0, skipped = 0;
        Map<String, TreeSet<String>> byReason = new TreeMap<>();
        Map<String, Integer> countByReason = new TreeMap<>();
        for (Path r : reports) {
            String xml = Files.readString(r);
            Matcher c = CASE.matcher(xml);
            while (c.find()) {
                tests++;
                String body = c.group(3) == null ? "" : c.group(3);
                if (body.contains("<failure") || body.contains("<error")) failed++;
                Matcher s = SKIPPED.matcher(body);
                if (!s.find()) continue;
                skipped++;
                String reason = s.group(1) != null && !s.group(1).isBlank() ? unescape(s.group(1))
                        : s.group(2) != null && !s.group(2).isBlank() ? unescape(s.group(2).replace("]]>", "").replaceFirst("</skipped>.*", ""))
                        : "no reason given";
                reason = reason.replaceFirst("^Assumption failed: ", "").replaceFirst("^assumption is not true$", "no reason given");
                String cls = attr(c.group(1), "classname");
                byReason.computeIfAbsent(reason, k -> new TreeSet<>()).add(cls.substring(cls.lastIndexOf('.') + 1));
                countByReason.merge(reason, 1, Integer::sum);
            }
        }
        if (reports.isEmpty()) {
            System.out.println("test.sh: no test reports under " + root);
            return;
        }
        StringBuilder line = new StringBuilder("test.sh: " + tests + " tests, " + failed + " failed, " + skipped + " skipped");
        String sep = ": ";
        for (var e : byReason.entrySet()) {
            line.append(sep).append(countByReason.get(e.getKey())).append(" because ").append(e.getKey())
                    .append(" (").append(String.join(", ", e.getValue())).append(")");
            sep = "; ";
        }
        System.out.println(line);
    }

    private static String attr(String attrs, String name) {
        Matcher m = Pattern.compile("\\b" + name + "=\"([^\"]*)\"").matcher(attrs);
        return m.find() ? m.group(1) : "?";
    }

    private static String unescape(String s) {
        return s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'").replace("&amp;", "&")
                .replaceAll("\\s+", " ").strip();
    }
}
