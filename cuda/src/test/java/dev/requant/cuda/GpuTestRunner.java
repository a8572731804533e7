package dev.requant.cuda;

import static org.junit.platform.engine.discovery.DiscoverySelectors.selectPackage;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;

/**
 * The GPU run (bench/cuda-gpu.sh): every test of this package through the JUnit launcher on a machine that has a GPU
 * but no Maven, then {@link GemmBenchmark}, then a short table. Exit code 1 when a test failed.
 */
public final class GpuTestRunner {
    private GpuTestRunner() {}

    public static void main(String[] args) throws Exception {
        List<String> lines = new ArrayList<>();
        TestExecutionListener printer = new TestExecutionListener() {
            @Override
            public void executionSkipped(TestIdentifier id, String reason) {
                if (id.isTest() || id.isContainer()) lines.add("SKIP " + id.getDisplayName() + ": " + reason);
            }

            @Override
            public void executionFinished(TestIdentifier id, TestExecutionResult r) {
                if (!id.isTest()) return;
                String name = id.getUniqueIdObject().getSegments().get(1).getValue().replace("dev.requant.cuda.", "") + "." + id.getDisplayName();
                switch (r.getStatus()) {
                    case SUCCESSFUL -> lines.add("PASS " + name);
                    case ABORTED -> lines.add("SKIP " + name + ": " + r.getThrowable().map(Throwable::getMessage).orElse(""));
                    case FAILED -> {
                        Throwable t = r.getThrowable().orElse(null);
                        lines.add("FAIL " + name + ": " + (t == null ? "" : t.toString().lines().limit(6).reduce((a, b) -> a + " | " + b).orElse("")));
                        if (t != null) t.printStackTrace(System.out);
                    }
                }
            }
        };
        SummaryGeneratingListener summary = new SummaryGeneratingListener();
        LauncherDiscoveryRequest request = LauncherDiscoveryRequestBuilder.request().selectors(selectPackage("dev.requant.cuda")).build();
        Launcher launcher = LauncherFactory.create();
        long t0 = System.nanoTime();
        launcher.execute(request, printer, summary);
        double testSeconds = (System.nanoTime() - t0) / 1e9;

        List<GemmBenchmark.Result> bench = List.of();
        String benchError = null;
        if (args.length == 0 || !args[0].equals("--no-bench")) {
            try {
                CudaDevice d = CudaTestSupport.device();
                bench = GemmBenchmark.run(d);
            } catch (Throwable t) {
                benchError = t.toString();
                t.printStackTrace(System.out);
            }
        }

        var s = summary.getSummary();
        System.out.println();
        System.out.println("==== tests (" + String.format("%.1f s", testSeconds) + ")");
        lines.forEach(System.out::println);
        System.out.println("==== measured by the tests");
        CudaTestSupport.reports().forEach(System.out::println);
        System.out.println("==== benchmarks (median device time, CUDA events)");
        for (GemmBenchmark.Result r : bench) System.out.printf("%-48s %9.3f ms  %s%n", r.what(), r.millis(), r.rate());
        if (benchError != null) System.out.println("benchmark failed: " + benchError);
        System.out.printf("==== %d passed, %d failed, %d skipped%n", s.getTestsSucceededCount(), s.getTestsFailedCount(),
                s.getTestsSkippedCount() + s.getTestsAbortedCount());
        if (s.getTestsFailedCount() > 0) s.printFailuresTo(new PrintWriter(System.out), 8);
        System.out.flush();
        System.exit(s.getTestsFailedCount() > 0 || benchError != null ? 1 : 0);
    }
}
