package dev.requant.cuda;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

/**
 * One GPU for all tests of a JVM, opened on first use. Without CUDA (this machine, CI) every GPU test is skipped with
 * the reason, e.g. "no CUDA: libcuda.so.1 not found (no NVIDIA driver on this machine)". Tests report their measured
 * errors through {@link #report} so the GPU run can print them as a table.
 */
final class CudaTestSupport {
    private static CudaDevice device;
    private static String deviceProblem;
    private static CudaKernels kernels;
    private static String kernelsProblem;
    private static final List<String> REPORTS = Collections.synchronizedList(new ArrayList<>());

    private CudaTestSupport() {}

    static synchronized CudaDevice device() {
        if (device == null && deviceProblem == null) {
            try {
                device = CudaDevice.open();
            } catch (CudaUnavailableException e) {
                deviceProblem = e.getMessage();
            }
        }
        assumeTrue(device != null, deviceProblem);
        device.makeCurrent();
        return device;
    }

    static synchronized CudaKernels kernels() {
        CudaDevice d = device();
        if (kernels == null && kernelsProblem == null) {
            try {
                kernels = CudaKernels.load(d);
            } catch (CudaUnavailableException e) {
                kernelsProblem = "no NVRTC: " + e.getMessage();
            }
        }
        assumeTrue(kernels != null, kernelsProblem);
        return kernels;
    }

    /** Records a measured number (max error, throughput) for the GPU run's summary table. */
    static void report(String kernel, String what, String value) {
        String line = String.format("%-16s %-44s %s", kernel, what, value);
        REPORTS.add(line);
        System.out.println("REPORT " + line);
    }

    static List<String> reports() { return List.copyOf(REPORTS); }

    static float[] gaussian(Random r, int n, double sigma) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (r.nextGaussian() * sigma);
        return v;
    }

    /** Relative error ‖a − ref‖ / ‖ref‖ in double; NaN anywhere in {@code a} gives +∞. */
    static double relativeError(float[] a, double[] ref) {
        double num = 0, den = 0;
        for (int i = 0; i < a.length; i++) {
            if (Float.isNaN(a[i])) return Double.POSITIVE_INFINITY;
            double d = a[i] - ref[i];
            num += d * d;
            den += ref[i] * ref[i];
        }
        return den == 0 ? Math.sqrt(num) : Math.sqrt(num / den);
    }

    static double maxAbsError(float[] a, double[] ref) {
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            if (Float.isNaN(a[i])) return Double.POSITIVE_INFINITY;
            m = Math.max(m, Math.abs(a[i] - ref[i]));
        }
        return m;
    }

    static String sci(double v) { return String.format("%.2e", v); }
}
