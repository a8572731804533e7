package dev.requant.testmodels;

/**
 * Next-token distributions of two runs compared position by position: softmax of each logits row (in double), the
 * share of positions whose most likely token agrees, and the largest absolute probability difference.
 */
public record ProbabilityComparison(int positions, double top1Agreement, double maxAbsProbDiff, int worstPosition) {
    public static ProbabilityComparison of(float[][] reference, float[][] other) {
        if (reference.length != other.length) throw new IllegalArgumentException(reference.length + " vs " + other.length + " positions");
        int agree = 0, worst = -1;
        double maxDiff = 0;
        for (int i = 0; i < reference.length; i++) {
            if (reference[i].length != other[i].length) throw new IllegalArgumentException("position " + i + ": vocab sizes differ");
            double[] p = softmax(reference[i]), q = softmax(other[i]);
            if (argmax(reference[i]) == argmax(other[i])) agree++;
            for (int j = 0; j < p.length; j++) {
                double d = Math.abs(p[j] - q[j]);
                if (d > maxDiff) {
                    maxDiff = d;
                    worst = i;
                }
            }
        }
        return new ProbabilityComparison(reference.length, (double) agree / reference.length, maxDiff, worst);
    }

    public static double[] softmax(float[] logits) {
        double max = Double.NEGATIVE_INFINITY;
        for (float x : logits) max = Math.max(max, x);
        double[] p = new double[logits.length];
        double sum = 0;
        for (int i = 0; i < p.length; i++) sum += p[i] = Math.exp(logits[i] - max);
        for (int i = 0; i < p.length; i++) p[i] /= sum;
        return p;
    }

    public static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
        return best;
    }

    @Override
    public String toString() {
        return String.format("%d positions, top-1 agreement %.4f, max |dp| %.3g (position %d)", positions, top1Agreement, maxAbsProbDiff, worstPosition);
    }
}
