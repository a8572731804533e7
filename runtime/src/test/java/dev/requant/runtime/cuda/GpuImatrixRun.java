package dev.requant.runtime.cuda;

import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectPackage;

import java.util.ArrayList;
import java.util.List;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;

/**
 * The GPU tests of imatrix collection on a machine without Maven (bench/imatrix-gpu.sh): every test of the packages
 * named in the arguments (default: {@code dev.requant.cuda} and {@code dev.requant.runtime.cuda}) through the JUnit
 * launcher (or of the test classes named), then PASS/FAIL/SKIP lines. Exit code 1 when a test failed.
 */
public final class GpuImatrixRun {
    private GpuImatrixRun() {}

    public static void main(String[] args) {
        List<String> packages = args.length > 0 ? List.of(args) : List.of("dev.requant.cuda", "dev.requant.runtime.cuda");
        List<String> lines = new ArrayList<>();
        TestExecutionListener printer = new TestExecutionListener() {
            @Override
            public void executionSkipped(TestIdentifier id, String reason) {
                lines.add("SKIP " + id.getDisplayName() + ": " + reason);
            }

            @Override
            public void executionFinished(TestIdentifier id, TestExecutionResult r) {
                if (!id.isTest()) return;
                String name = id.getUniqueIdObject().getSegments().get(1).getValue() + "." + id.getDisplayName();
                switch (r.getStatus()) {
                    case SUCCESSFUL -> lines.add("PASS " + name);
                    case ABORTED -> lines.add("SKIP " + name + ": " + r.getThrowable().map(Throwable::getMessage).orElse(""));
                    case FAILED -> {
                        Throwable t = r.getThrowable().orElse(null);
                        lines.add("FAIL " + name + ": " + (t == null ? "" : t.toString().lines().limit(4).reduce((a, b) -> a + " | " + b).orElse("")));
                        if (t != null) t.printStackTrace(System.out);
                    }
                }
            }
        };
        SummaryGeneratingListener summary = new SummaryGeneratingListener();
        var request = LauncherDiscoveryRequestBuilder.request();
        for (String p : packages) {
            // a test class (its simple name starts with a capital) or a package
            boolean isClass = Character.isUpperCase(p.substring(p.lastIndexOf('.') + 1).charAt(0));
            request.selectors(isClass ? selectClass(p) : selectPackage(p));
        }
        Launcher launcher = LauncherFactory.create();
        long t0 = System.nanoTime();
        launcher.execute(request.build(), printer, summary);
        var s = summary.getSummary();
        System.out.println();
        System.out.printf("==== tests (%.1f s)%n", (System.nanoTime() - t0) / 1e9);
        lines.forEach(System.out::println);
        System.out.printf("==== %d passed, %d failed, %d skipped%n", s.getTestsSucceededCount(), s.getTestsFailedCount(),
                s.getTestsSkippedCount() + s.getTestsAbortedCount());
        System.out.flush();
        System.exit(s.getTestsFailedCount() > 0 ? 1 : 0);
    }
}
