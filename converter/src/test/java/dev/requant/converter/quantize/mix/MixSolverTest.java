package dev.requant.converter.quantize.mix;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The solver against exhaustive search on small random instances, and its edge cases. */
class MixSolverTest {
    /** Options shaped like quantization types: more bytes, less cost, with diminishing returns (and some noise). */
    static List<MixSolver.Unit> instance(Random rnd, int units, int options) {
        List<MixSolver.Unit> us = new ArrayList<>();
        for (int u = 0; u < units; u++) {
            double sens = Math.exp(rnd.nextGaussian() * 2);
            long size = 100 + rnd.nextInt(900);
            List<MixSolver.Choice> cs = new ArrayList<>();
            for (int o = 0; o < options; o++) {
                double bits = 3 + o * 1.5;
                cs.add(new MixSolver.Choice("t" + o, (long) (size * bits), sens * Math.pow(2, -2 * bits) * (1 + 0.2 * rnd.nextDouble())));
            }
            us.add(new MixSolver.Unit("u" + u, cs));
        }
        return us;
    }

    static double bruteForce(List<MixSolver.Unit> us, long budget) {
        int n = us.size();
        int[] pick = new int[n];
        double best = Double.POSITIVE_INFINITY;
        while (true) {
            long bytes = 0;
            double cost = 0;
            for (int u = 0; u < n; u++) {
                bytes += us.get(u).choices().get(pick[u]).bytes();
                cost += us.get(u).choices().get(pick[u]).cost();
            }
            if (bytes <= budget) best = Math.min(best, cost);
            int u = 0;
            while (u < n && ++pick[u] == us.get(u).choices().size()) pick[u++] = 0;
            if (u == n) return best;
        }
    }

    @Test
    void withinBudgetAndCloseToTheOptimum() {
        Random rnd = new Random(16);
        int optimal = 0, trials = 200;
        double worst = 1, sumRatio = 0;
        for (int i = 0; i < trials; i++) {
            List<MixSolver.Unit> us = instance(rnd, 6, 4);
            long min = 0, max = 0;
            for (MixSolver.Unit u : us) {
                min += u.choices().getFirst().bytes();
                max += u.choices().getLast().bytes();
            }
            long budget = min + (long) (rnd.nextDouble() * (max - min));
            MixSolver.Solution s = MixSolver.solve(us, budget);
            assertThat(s.bytes()).isLessThanOrEqualTo(budget);
            long bytes = 0;
            double cost = 0;
            for (MixSolver.Unit u : us) {
                MixSolver.Choice c = u.choices().stream().filter(x -> x.label().equals(s.choice().get(u.name()))).findFirst().orElseThrow();
                bytes += c.bytes();
                cost += c.cost();
            }
            assertThat(bytes).isEqualTo(s.bytes());
            assertThat(cost).isCloseTo(s.cost(), org.assertj.core.data.Offset.offset(1e-12 * Math.max(1, cost)));
            double best = bruteForce(us, budget);
            assertThat(s.cost()).isGreaterThanOrEqualTo(best * (1 - 1e-12));
            sumRatio += s.cost() / best;
            if (s.cost() <= best * (1 + 1e-9)) optimal++;
            worst = Math.max(worst, s.cost() / best);
        }
        System.out.printf("solver: optimal on %d of %d instances, mean %.4f, worst %.4f x the optimum%n", optimal, trials, sumRatio / trials, worst);
        // a knapsack heuristic: on 6 tensors a 4-way choice leaves gaps (seed 16: 181 of 200 optimal, mean 1.014,
        // worst 1.65 x); with hundreds of tensors each tensor's granularity is a small part of the budget
        assertThat(optimal).isGreaterThan(trials * 3 / 4);
        assertThat(sumRatio / trials).isLessThan(1.03);
    }

    @Test
    void aGenerousBudgetTakesTheCheapestCostAndATightOneTheSmallest() {
        List<MixSolver.Unit> us = instance(new Random(1), 5, 3);
        MixSolver.Solution all = MixSolver.solve(us, Long.MAX_VALUE / 4);
        for (MixSolver.Unit u : us) assertThat(all.choice().get(u.name())).isEqualTo("t2");
        long min = us.stream().mapToLong(u -> u.choices().getFirst().bytes()).sum();
        MixSolver.Solution tight = MixSolver.solve(us, min);
        for (MixSolver.Unit u : us) assertThat(tight.choice().get(u.name())).isEqualTo("t0");
        assertThatThrownBy(() -> MixSolver.solve(us, min - 1)).isInstanceOf(MixSolver.InfeasibleBudgetException.class)
                .hasMessageContaining("below the smallest mix");
    }
}
