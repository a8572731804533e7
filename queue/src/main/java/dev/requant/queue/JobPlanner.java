package dev.requant.queue;

import dev.requant.formats.gguf.FileType;
import dev.requant.formats.FormatException;
import dev.requant.formats.gguf.GgufFile;
import dev.requant.formats.gguf.GgufKeys;
import dev.requant.formats.imatrix.Imatrix;
import dev.requant.formats.imatrix.ImatrixReader;
import dev.requant.formats.safetensors.SafetensorsCheckpoint;
import dev.requant.queue.JobPlan.ImatrixMode;
import dev.requant.queue.JobPlan.SourceKind;
import dev.requant.queue.exec.StepKind;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Checks a {@link JobRequest} the way the steps would find out hours later, and expands it to steps. Everything a
 * job needs must be there at {@code add} time: the source (a Hugging Face folder with weights, or a GGUF file), a
 * known type for each name, a readable imatrix or calibration text. Output names:
 * {@code OUT/NAME-BF16.gguf} (base of an HF source), {@code OUT/NAME.imatrix.gguf}, {@code OUT/NAME-TYPE.gguf}
 * ({@code OUT/NAME-i1-TYPE.gguf} for the types of the i1 recipe, see {@link QuantRecipes}).
 */
public final class JobPlanner {
    private JobPlanner() {}

    public static JobPlan plan(JobRequest r) throws IOException {
        if (r.source() == null) throw new JobRejectedException("no SOURCE given (a Hugging Face folder or a .gguf file)");
        Path source = r.source().toAbsolutePath().normalize();
        if (!Files.exists(source)) throw new JobRejectedException(r.source() + ": source does not exist");
        SourceKind kind = Files.isDirectory(source) ? SourceKind.HF : SourceKind.GGUF;
        if (kind == SourceKind.HF) checkHfFolder(source); else checkGguf(source);

        String mode = r.imatrix() == null ? "none" : r.imatrix().trim();
        ImatrixMode imatrix = switch (mode.toLowerCase(Locale.ROOT)) {
            case "none" -> ImatrixMode.NONE;
            case "auto" -> ImatrixMode.AUTO;
            default -> ImatrixMode.FILE;
        };
        if (r.types() == null || r.types().stream().allMatch(String::isBlank)) {
            throw new JobRejectedException("no --types given (e.g. --types q4_0,q8_0, or a recipe: static, i1)");
        }
        List<QuantTarget> targets = QuantRecipes.expand(r.types(), imatrix != ImatrixMode.NONE);
        List<FileType> types = targets.stream().map(QuantTarget::type).distinct().toList();
        Path imatrixFile = null;
        Path calibration = null;
        if (imatrix == ImatrixMode.FILE) {
            imatrixFile = Path.of(mode).toAbsolutePath().normalize();
            checkImatrix(imatrixFile, mode);
        }
        if (imatrix == ImatrixMode.AUTO) {
            if (r.calibration() == null) {
                throw new JobRejectedException("--imatrix auto needs --calibration FILE (the text to run through the model)");
            }
            calibration = r.calibration().toAbsolutePath().normalize();
            checkReadableFile(calibration, r.calibration() + ": calibration text");
        } else if (r.calibration() != null) {
            throw new JobRejectedException("--calibration is only used with --imatrix auto");
        }
        for (QuantTarget t : targets) {
            if (!t.withImatrix() && t.type().needsImatrix()) {
                throw new JobRejectedException(imatrix == ImatrixMode.NONE
                        ? "type " + t.type() + " needs an importance matrix: pass --imatrix auto --calibration FILE, or --imatrix FILE"
                        : "static " + t.type() + " cannot be made without the imatrix (llama-quantize refuses it); ask for i1:" + t.type());
            }
        }
        if (r.maxAttempts() < 1) throw new JobRejectedException("--retries must leave at least 1 attempt");

        Path out = (r.outDir() == null ? Path.of("") : r.outDir()).toAbsolutePath().normalize();
        if (Files.exists(out) && !Files.isDirectory(out)) throw new JobRejectedException(out + ": --out is not a directory");
        try {
            Files.createDirectories(out);
        } catch (IOException e) {
            throw new JobRejectedException(out + ": cannot create the output directory: " + e.getMessage());
        }
        if (!Files.isWritable(out)) throw new JobRejectedException(out + ": output directory is not writable");

        String name = modelName(source, kind);
        List<PlannedStep> steps = new ArrayList<>();
        Path base;
        List<Path> baseDeps;
        if (kind == SourceKind.HF) {
            base = out.resolve(name + "-BF16.gguf");
            steps.add(new PlannedStep(StepKind.CONVERT, null, source, null, null, base, List.of()));
            baseDeps = List.of(base);
        } else {
            base = source;
            baseDeps = List.of();
        }
        Path quantImatrix = imatrixFile;
        List<Path> quantDeps = baseDeps;
        if (imatrix == ImatrixMode.AUTO) {
            quantImatrix = out.resolve(name + ".imatrix.gguf");
            steps.add(new PlannedStep(StepKind.IMATRIX, null, base, null, calibration, quantImatrix, baseDeps));
            List<Path> deps = new ArrayList<>(baseDeps);
            deps.add(quantImatrix);
            quantDeps = List.copyOf(deps);
        }
        for (QuantTarget t : targets) {
            Path output = out.resolve(name + "-" + t.label() + ".gguf");
            if (output.equals(base) && kind == SourceKind.HF) continue;  // BF16 of an HF source is the base itself
            if (output.equals(source)) {
                throw new JobRejectedException(output + ": the " + t.label() + " output would overwrite the source; pass another --out");
            }
            // a static type needs only the base, so it can run while the imatrix is being computed
            steps.add(t.withImatrix() ? new PlannedStep(StepKind.QUANTIZE, t.type(), base, quantImatrix, null, output, quantDeps)
                    : new PlannedStep(StepKind.QUANTIZE, t.type(), base, null, null, output, baseDeps));
        }
        return new JobPlan(source, kind, name, out, types, targets, imatrix, imatrixFile, calibration, r.priority(),
                r.maxAttempts(), List.copyOf(steps));
    }

    /** The stem of the output names: the folder name, or the GGUF file name without .gguf and a -BF16/-F16/-F32 tail. */
    static String modelName(Path source, SourceKind kind) {
        String n = source.getFileName().toString();
        if (kind == SourceKind.GGUF) {
            if (n.toLowerCase(Locale.ROOT).endsWith(".gguf")) n = n.substring(0, n.length() - 5);
            n = n.replaceFirst("(?i)[-_.](bf16|f16|f32)$", "");
        }
        return n;
    }

    private static void checkHfFolder(Path dir) throws IOException {
        if (!Files.isRegularFile(dir.resolve("config.json"))) {
            throw new JobRejectedException(dir + ": not a Hugging Face model folder (no config.json)");
        }
        try (SafetensorsCheckpoint ignored = SafetensorsCheckpoint.open(dir)) {
            // headers parse: the weights are there and well-formed
        } catch (FormatException e) {
            throw new JobRejectedException(e.getMessage());
        }
    }

    private static void checkGguf(Path file) throws IOException {
        checkReadableFile(file, file + ": source");
        if (!hasGgufMagic(file)) {
            throw new JobRejectedException(file + ": not a GGUF file (SOURCE must be a Hugging Face folder or a .gguf file)");
        }
        try (GgufFile ignored = GgufFile.open(file)) {
            // header, metadata and tensor table are valid
        } catch (FormatException e) {
            throw new JobRejectedException(e.getMessage());
        }
    }

    /**
     * An imatrix llama-quantize would load: read with {@link ImatrixReader} (GGUF first, then legacy .dat, as
     * common_imatrix_load does), with entries, and for GGUF the three imatrix.* keys llama-quantize insists on.
     */
    private static void checkImatrix(Path file, String given) throws IOException {
        checkReadableFile(file, given + ": imatrix");
        Imatrix m;
        try {
            m = ImatrixReader.read(file);
        } catch (FormatException e) {
            throw new JobRejectedException("not a usable imatrix: " + e.getMessage());
        }
        if (!m.legacy() && !m.hasMetadata()) {
            throw new JobRejectedException(given + ": not a usable imatrix: GGUF without the " + GgufKeys.IMatrix.DATASETS + ", "
                    + GgufKeys.IMatrix.CHUNK_COUNT + " and " + GgufKeys.IMatrix.CHUNK_SIZE + " keys (llama-quantize refuses it)");
        }
        if (m.entries().isEmpty()) throw new JobRejectedException(given + ": not a usable imatrix: it has no entries");
    }

    private static void checkReadableFile(Path file, String what) throws JobRejectedException {
        if (!Files.exists(file)) throw new JobRejectedException(what + " does not exist");
        if (!Files.isRegularFile(file)) throw new JobRejectedException(what + " is not a regular file");
        try (InputStream in = Files.newInputStream(file)) {
            if (in.read() < 0) throw new JobRejectedException(what + " is empty");
        } catch (IOException e) {
            throw new JobRejectedException(what + " is not readable: " + e.getMessage());
        }
    }

    private static boolean hasGgufMagic(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            byte[] m = in.readNBytes(4);
            return m.length == 4 && m[0] == 'G' && m[1] == 'G' && m[2] == 'U' && m[3] == 'F';
        }
    }
}
