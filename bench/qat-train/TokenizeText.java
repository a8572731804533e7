// Tokenizes a text file with the tokenizer of a GGUF (llama.cpp-identical ids) into little-endian int32 ids.
// usage: java -cp cli/target/requant.jar bench/qat-train/TokenizeText.java MODEL.gguf TEXT OUT.bin
import dev.requant.formats.gguf.*; import dev.requant.formats.tokenizer.*; import java.nio.file.*; import java.nio.*; import java.io.*;
public class TokenizeText { public static void main(String[] a) throws Exception {
  try (GgufFile f = GgufFile.open(Path.of(a[0]))) {
    Tokenizer t = Tokenizer.fromMetadata(f.metadata());
    String text = Files.readString(Path.of(a[1]));
    int[] ids = t.encode(text, false, false);
    ByteBuffer b = ByteBuffer.allocate(ids.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    for (int id : ids) b.putInt(id);
    Files.write(Path.of(a[2]), b.array());
    System.out.println(ids.length + " tokens");
  }}}
