package dev.requant.queue;

import dev.requant.formats.gguf.FileType;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * What {@code queue add --types} accepts besides type names: the batch operators' recipes and recipe files.
 *
 * <ul>
 *   <li>{@code TYPE} (a llama-quantize name, any case): made with the job's imatrix when it has one (as before);
 *   <li>{@code static}: {@link #STATIC}, each made without an imatrix, named {@code NAME-TYPE.gguf};
 *   <li>{@code i1}: {@link #I1}, each made with the job's imatrix (which it then needs), named {@code NAME-i1-TYPE.gguf};
 *   <li>{@code static:TYPE} and {@code i1:TYPE}: one type of that kind;
 *   <li>a recipe file: the same words, separated by commas, spaces or newlines, {@code #} starting a comment.
 * </ul>
 *
 * The same output asked for twice is made once; the same output asked for with and without the imatrix is refused.
 */
public final class QuantRecipes {
    /** The static quants one public operator publishes per model. */
    public static final List<FileType> STATIC = List.of(FileType.Q8_0, FileType.Q6_K, FileType.Q5_K_M, FileType.Q5_K_S,
            FileType.Q4_K_M, FileType.Q4_K_S, FileType.Q3_K_L, FileType.Q3_K_M, FileType.Q3_K_S, FileType.Q2_K, FileType.IQ4_XS);

    /** The imatrix ("i1") quants of the same operator. */
    public static final List<FileType> I1 = List.of(FileType.Q6_K, FileType.Q5_K_M, FileType.Q5_K_S, FileType.Q4_K_M,
            FileType.Q4_K_S, FileType.Q4_0, FileType.IQ4_XS, FileType.IQ4_NL, FileType.Q3_K_L, FileType.Q3_K_M, FileType.Q3_K_S,
            FileType.IQ3_M, FileType.IQ3_S, FileType.IQ3_XS, FileType.IQ3_XXS, FileType.Q2_K, FileType.IQ2_M, FileType.IQ2_S,
            FileType.IQ2_XS, FileType.IQ2_XXS, FileType.IQ1_M, FileType.IQ1_S);

    private QuantRecipes() {}

    /**
     * The targets of {@code --types} words, in order, without repeats.
     *
     * @param jobImatrix whether the job has an imatrix (--imatrix auto or FILE)
     */
    public static List<QuantTarget> expand(List<String> words, boolean jobImatrix) throws JobRejectedException {
        Map<String, QuantTarget> byLabel = new LinkedHashMap<>();
        for (String w : words) expandWord(w.trim(), jobImatrix, byLabel, true);
        if (byLabel.isEmpty()) throw new JobRejectedException("no --types given (e.g. --types q4_0,q8_0, or a recipe: static, i1)");
        return List.copyOf(byLabel.values());
    }

    private static void expandWord(String word, boolean jobImatrix, Map<String, QuantTarget> out, boolean filesAllowed)
            throws JobRejectedException {
        if (word.isEmpty()) return;
        String lower = word.toLowerCase(Locale.ROOT);
        if (lower.equals("static")) {
            for (FileType t : STATIC) add(out, new QuantTarget(t, false, t.name()));
            return;
        }
        if (lower.equals("i1")) {
            requireImatrix(jobImatrix, "i1");
            for (FileType t : I1) add(out, new QuantTarget(t, true, "i1-" + t.name()));
            return;
        }
        if (lower.startsWith("static:")) {
            FileType t = type(word.substring(7));
            add(out, new QuantTarget(t, false, t.name()));
            return;
        }
        if (lower.startsWith("i1:")) {
            requireImatrix(jobImatrix, word);
            FileType t = type(word.substring(3));
            add(out, new QuantTarget(t, true, "i1-" + t.name()));
            return;
        }
        if (FileType.parse(word).isEmpty() && filesAllowed && (Files.isRegularFile(Path.of(word)) || word.contains("/") || word.endsWith(".txt"))) {
            Path file = Path.of(word);
            if (!Files.isRegularFile(file)) throw new JobRejectedException(word + ": recipe file does not exist");
            String text;
            try {
                text = Files.readString(file);
            } catch (IOException e) {
                throw new JobRejectedException(word + ": recipe file is not readable: " + e.getMessage());
            }
            int before = out.size();
            for (String line : text.split("\n")) {
                int hash = line.indexOf('#');
                String content = hash >= 0 ? line.substring(0, hash) : line;
                for (String w : content.split("[,\\s]+")) {
                    try {
                        expandWord(w.trim(), jobImatrix, out, false);
                    } catch (JobRejectedException e) {
                        throw new JobRejectedException(word + ": " + e.getMessage());
                    }
                }
            }
            if (out.size() == before && text.isBlank()) throw new JobRejectedException(word + ": recipe file is empty");
            return;
        }
        FileType t = type(word);
        add(out, new QuantTarget(t, jobImatrix, t.name()));
    }

    private static FileType type(String name) throws JobRejectedException {
        FileType t = FileType.parse(name).orElseThrow(() -> new JobRejectedException(
                "unknown quant type '" + name.trim() + "' (this build can make " + FileType.producibleNames()
                        + "; recipes: static, i1, or a recipe file)"));
        // refused here, not at the quantize step after convert and imatrix have run
        if (!t.producible()) throw new JobRejectedException(t.notProducibleMessage());
        return t;
    }

    private static void requireImatrix(boolean jobImatrix, String what) throws JobRejectedException {
        if (!jobImatrix) {
            throw new JobRejectedException(what + ": i1 types are made with the job's imatrix: pass --imatrix auto --calibration FILE, or --imatrix FILE");
        }
    }

    private static void add(Map<String, QuantTarget> out, QuantTarget t) throws JobRejectedException {
        QuantTarget had = out.putIfAbsent(t.label(), t);
        if (had != null && had.withImatrix() != t.withImatrix()) {
            throw new JobRejectedException(t.label() + " is asked for both with and without the imatrix (a plain type name takes the job's"
                    + " imatrix, static does not); name it once, or use i1:" + t.type().name() + " for the imatrix one");
        }
    }
}
