package dev.requant.converter.quantize.mix;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Chooses one option per tensor to minimise the summed cost under a byte budget (a multiple-choice knapsack): a
 * Lagrangian sweep (per tensor, the argmin of cost + λ·bytes; the smallest λ whose total fits, found by bisection),
 * then a greedy fix-up that spends what the sweep left of the budget on the upgrades with the best cost saved per
 * byte, then pairwise exchanges (one tensor down, another up) while they lower the cost. The sum of per-tensor costs is the model of the whole-model KLD (additive for small, independent
 * perturbations); the final file is checked with a real eval.
 */
public final class MixSolver {
    private MixSolver() {}

    /** One choice for one tensor: what the solver sees. */
    public record Choice(String label, long bytes, double cost) {}

    public record Unit(String name, List<Choice> choices) {
        public Unit {
            choices = List.copyOf(choices);
            if (choices.isEmpty()) throw new IllegalArgumentException(name + ": no choices");
        }
    }

    /**
     * @param choice the label chosen per tensor, in the units' order
     * @param lambda the multiplier of the sweep's solution (cost per byte)
     * @param upgrades how many greedy and exchange steps followed the sweep
     */
    public record Solution(Map<String, String> choice, long bytes, double cost, double lambda, int upgrades) {}

    /** Thrown when even the smallest option of every tensor exceeds the budget. */
    public static final class InfeasibleBudgetException extends IllegalArgumentException {
        private final long minimumBytes;

        InfeasibleBudgetException(long minimumBytes, long budget) {
            super("the budget of " + budget + " tensor bytes is below the smallest mix this menu allows (" + minimumBytes + " bytes)");
            this.minimumBytes = minimumBytes;
        }

        public long minimumBytes() { return minimumBytes; }
    }

    public static Solution solve(List<Unit> units, long budget) {
        int n = units.size();
        long minBytes = 0;
        for (Unit u : units) minBytes += u.choices().stream().mapToLong(Choice::bytes).min().orElseThrow();
        if (minBytes > budget) throw new InfeasibleBudgetException(minBytes, budget);

        int[] pick = argmin(units, 0);
        double lambda = 0;
        if (bytes(units, pick) > budget) {
            double lo = 0, hi = 1e-30;
            while (bytes(units, argmin(units, hi)) > budget) {
                lo = hi;
                hi *= 4;
                if (hi > 1e30) throw new IllegalStateException("no multiplier meets the budget");
            }
            for (int i = 0; i < 200 && hi > lo * (1 + 1e-12); i++) {
                double mid = lo == 0 ? hi / 2 : Math.sqrt(lo * hi);
                if (bytes(units, argmin(units, mid)) > budget) lo = mid;
                else hi = mid;
            }
            lambda = hi;
            pick = argmin(units, hi);
        }
        int upgrades = 0;
        long used = bytes(units, pick);
        while (true) {
            int bu = -1, bc = -1;
            double best = 0;
            for (int u = 0; u < n; u++) {
                Choice cur = units.get(u).choices().get(pick[u]);
                for (int c = 0; c < units.get(u).choices().size(); c++) {
                    Choice x = units.get(u).choices().get(c);
                    long extra = x.bytes() - cur.bytes();
                    double saved = cur.cost() - x.cost();
                    if (saved <= 0 || used + extra > budget) continue;
                    // a choice both smaller and better is taken first (infinite rate)
                    double rate = extra <= 0 ? Double.POSITIVE_INFINITY : saved / extra;
                    if (rate > best) {
                        best = rate;
                        bu = u;
                        bc = c;
                    }
                }
            }
            if (bu < 0) break;
            used += units.get(bu).choices().get(bc).bytes() - units.get(bu).choices().get(pick[bu]).bytes();
            pick[bu] = bc;
            upgrades++;
        }
        upgrades += exchange(units, pick, budget);
        used = bytes(units, pick);
        Map<String, String> choice = new LinkedHashMap<>();
        double cost = 0;
        for (int u = 0; u < n; u++) {
            Choice c = units.get(u).choices().get(pick[u]);
            choice.put(units.get(u).name(), c.label());
            cost += c.cost();
        }
        return new Solution(choice, used, cost, lambda, upgrades);
    }

    /**
     * Pairwise exchanges after the greedy fill: one tensor gives up bytes so that another can take a better type, taken
     * while the pair lowers the total cost and fits (the best pair first). The knapsack's integrality gap is mostly
     * such pairs when tensors are few or large.
     */
    static int exchange(List<Unit> units, int[] pick, long budget) {
        int n = units.size(), steps = 0;
        long used = bytes(units, pick);
        for (int iter = 0; iter < Math.min(10 * n, 500); iter++) {
            double best = 1e-300;
            int bu = -1, bc = -1, bv = -1, bd = -1;
            for (int u = 0; u < n; u++) {
                List<Choice> cu = units.get(u).choices();
                Choice curU = cu.get(pick[u]);
                for (int c = 0; c < cu.size(); c++) {
                    if (c == pick[u]) continue;
                    long du = cu.get(c).bytes() - curU.bytes();
                    double gu = curU.cost() - cu.get(c).cost();
                    for (int v = 0; v < n; v++) {
                        if (v == u) continue;
                        List<Choice> cv = units.get(v).choices();
                        Choice curV = cv.get(pick[v]);
                        for (int d = 0; d < cv.size(); d++) {
                            if (d == pick[v]) continue;
                            long dv = cv.get(d).bytes() - curV.bytes();
                            if (used + du + dv > budget) continue;
                            double gain = gu + curV.cost() - cv.get(d).cost();
                            if (gain > best) {
                                best = gain;
                                bu = u;
                                bc = c;
                                bv = v;
                                bd = d;
                            }
                        }
                    }
                }
            }
            if (bu < 0) break;
            used += units.get(bu).choices().get(bc).bytes() - units.get(bu).choices().get(pick[bu]).bytes()
                    + units.get(bv).choices().get(bd).bytes() - units.get(bv).choices().get(pick[bv]).bytes();
            pick[bu] = bc;
            pick[bv] = bd;
            steps++;
        }
        return steps;
    }

    /** Per unit, the choice minimising cost + λ·bytes (ties: fewer bytes, then the first). */
    static int[] argmin(List<Unit> units, double lambda) {
        int[] pick = new int[units.size()];
        for (int u = 0; u < units.size(); u++) {
            List<Choice> cs = units.get(u).choices();
            int b = 0;
            for (int c = 1; c < cs.size(); c++) {
                double v = cs.get(c).cost() + lambda * cs.get(c).bytes(), w = cs.get(b).cost() + lambda * cs.get(b).bytes();
                if (v < w || (v == w && cs.get(c).bytes() < cs.get(b).bytes())) b = c;
            }
            pick[u] = b;
        }
        return pick;
    }

    static long bytes(List<Unit> units, int[] pick) {
        long s = 0;
        for (int u = 0; u < units.size(); u++) s += units.get(u).choices().get(pick[u]).bytes();
        return s;
    }

    /** The units of a table with the given labels allowed (all when {@code allowed} is null). */
    public static List<Unit> units(SensitivityTable table, java.util.Set<String> allowed, java.util.function.ToLongFunction<MixOption> size) {
        List<Unit> us = new ArrayList<>();
        for (TensorSensitivity t : table.tensors()) {
            List<Choice> cs = new ArrayList<>();
            for (MixOption o : t.options()) {
                if (allowed != null && !allowed.contains(o.label())) continue;
                cs.add(new Choice(o.label(), size.applyAsLong(o), table.cost(t, o)));
            }
            us.add(new Unit(t.name(), cs));
        }
        return us;
    }
}
