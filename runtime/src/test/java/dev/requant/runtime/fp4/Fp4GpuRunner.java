package dev.requant.runtime.fp4;

import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;

/** The FP4 GPU tests without Maven (bench/nvfp4-gpu.sh on the GPU machine): PASS/SKIP/FAIL lines, exit 1 on failure. */
public final class Fp4GpuRunner {
    private Fp4GpuRunner() {}

    public static void main(String[] args) {
        TestExecutionListener printer = new TestExecutionListener() {
            @Override
            public void executionSkipped(TestIdentifier id, String reason) {
                System.out.println("SKIP " + id.getDisplayName() + ": " + reason);
            }

            @Override
            public void executionFinished(TestIdentifier id, TestExecutionResult r) {
                if (!id.isTest()) return;
                switch (r.getStatus()) {
                    case SUCCESSFUL -> System.out.println("PASS " + id.getDisplayName());
                    case ABORTED -> System.out.println("SKIP " + id.getDisplayName() + ": " + r.getThrowable().map(Throwable::getMessage).orElse(""));
                    case FAILED -> {
                        System.out.println("FAIL " + id.getDisplayName() + ": " + r.getThrowable().map(Throwable::toString).orElse(""));
                        r.getThrowable().ifPresent(t -> t.printStackTrace(System.out));
                    }
                }
            }
        };
        SummaryGeneratingListener summary = new SummaryGeneratingListener();
        LauncherDiscoveryRequest request = LauncherDiscoveryRequestBuilder.request()
                .selectors(selectClass(GpuFp4Test.class), selectClass(W4a4EmulationTest.class)).build();
        Launcher launcher = LauncherFactory.create();
        launcher.execute(request, printer, summary);
        long failed = summary.getSummary().getTotalFailureCount();
        System.out.println("fp4 GPU tests: " + summary.getSummary().getTestsSucceededCount() + " passed, " + failed + " failed, "
                + summary.getSummary().getTestsAbortedCount() + " skipped");
        System.exit(failed == 0 ? 0 : 1);
    }
}
