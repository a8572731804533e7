package dev.requant.cli;

import dev.requant.formats.ggml.GgmlType;
import dev.requant.formats.gguf.FileType;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import picocli.CommandLine;

/**
 * How the CLI reads type names, from the one table ({@link FileType}) and GGML's type names: picocli converters that
 * refuse an unknown name with the names it knows, and candidate lists so that help shows the values.
 */
final class TypeNames {
    private TypeNames() {}

    /** convert --type: a convertible file type, or "auto" (null). */
    static final class ConvertType implements CommandLine.ITypeConverter<FileType> {
        @Override public FileType convert(String s) {
            if (s.equalsIgnoreCase("auto")) return null;
            FileType t = FileType.parse(s).orElseThrow(() -> new CommandLine.TypeConversionException(
                    "unknown type '" + s + "' (choose " + FileType.convertibleNames() + " or auto)"));
            if (!t.convertible()) {
                throw new CommandLine.TypeConversionException("convert writes " + FileType.convertibleNames()
                        + " or auto; for " + t.name() + " convert to bf16, then run requant quantize");
            }
            return t;
        }
    }

    /** The values of convert --type, for help. */
    static final class ConvertTypes implements Iterable<String> {
        @Override public Iterator<String> iterator() {
            List<String> names = new ArrayList<>(Arrays.stream(FileType.values()).filter(FileType::convertible).map(FileType::cliName).toList());
            names.add("auto");
            return names.iterator();
        }
    }

    /** A GGML tensor type by its ggml name (q8_0, q6_K, f16, ...), case-insensitive. */
    static final class Ggml implements CommandLine.ITypeConverter<GgmlType> {
        @Override public GgmlType convert(String s) {
            return GgmlType.byName(s).filter(t -> !t.removed())
                    .orElseThrow(() -> new CommandLine.TypeConversionException("invalid ggml type '" + s + "'"));
        }
    }
}
