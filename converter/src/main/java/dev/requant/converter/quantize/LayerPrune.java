package dev.requant.converter.quantize;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code --prune-layers}: llama-quantize's remap_layer, fed the tensor names in weight order. The blocks listed are
 * dropped; blocks below the first pruned one keep their number; every later kept block takes the next free number,
 * so the rest stay consecutive. The output's block_count becomes the number after the last kept block. The imatrix is
 * still looked up under a tensor's original name (remap_imatrix maps the new number back).
 */
final class LayerPrune {
    /** std::regex R"(blk\.(\d+)\.)" searched anywhere in the name. */
    private static final Pattern BLOCK = Pattern.compile("blk\\.(\\d+)\\.");

    private final List<Integer> prune;
    private final Map<Integer, Integer> mapped = new HashMap<>(); // original block -> new block, or -1 when pruned
    private int nextId;

    LayerPrune(List<Integer> sortedDistinct) {
        this.prune = sortedDistinct;
    }

    boolean active() { return !prune.isEmpty(); }

    /** The tensor's output name, or null when its block is pruned (call in weight order). */
    String rename(String name) {
        if (prune.isEmpty()) return name;
        Matcher m = BLOCK.matcher(name);
        if (!m.find()) return name;
        int blk;
        try {
            blk = Integer.parseInt(m.group(1));
        } catch (NumberFormatException e) {
            throw new QuantizePolicyException("block number out of range in tensor name " + name); // std::stoi throws too
        }
        Integer to = mapped.get(blk);
        if (to == null) {
            if (prune.contains(blk)) {
                to = -1;
            } else if (blk < prune.getFirst()) {
                to = blk;
                nextId = blk + 1;
            } else {
                to = nextId++;
            }
            mapped.put(blk, to);
        }
        if (to < 0) return null;
        return name.substring(0, m.start(1)) + to + name.substring(m.end(1));
    }

    /** The block_count llama-quantize writes after pruning (its blk_id counter). */
    int blockCount() { return nextId; }
}
