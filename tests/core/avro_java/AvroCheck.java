import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.File;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;
import org.apache.avro.SchemaCompatibility.Incompatibility;
import org.apache.avro.SchemaCompatibility.SchemaPairCompatibility;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericEnumSymbol;
import org.apache.avro.generic.GenericFixed;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageDecoder;

/**
 * Apache Avro for Java, driven by tests/core/test_evolution.py: the reference implementation's
 * judgement on our schemas, so the contract is not only checked by our own Python code.
 *
 * <pre>
 * compat   stdin: "label TAB reader.avsc TAB writer.avsc" per line;
 *          stdout: one JSON object per line {label, compatible, incompatibilities[]}
 *          (SchemaCompatibility.checkReaderWriterCompatibility).
 * decode   stdin: "reader.avsc TAB hex single-object record [TAB writer.avsc]..." per line;
 *          stdout: one JSON object per line, {"datum": ...} or {"error": ...}
 *          (BinaryMessageDecoder: the writer found by fingerprint, resolved into the reader).
 * </pre>
 *
 * Each schema file is parsed by its own Schema.Parser, as a consumer holding only that file would.
 */
public final class AvroCheck {
  private static final ObjectMapper JSON = new ObjectMapper();

  private AvroCheck() {}

  public static void main(String[] args) throws Exception {
    BufferedReader in =
        new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    switch (args[0]) {
      case "compat" -> compat(in);
      case "decode" -> decode(in);
      default -> throw new IllegalArgumentException("unknown command " + args[0]);
    }
    System.out.flush();
  }

  private static Schema parse(String path) throws Exception {
    return new Schema.Parser().parse(new File(path));
  }

  private static void compat(BufferedReader in) throws Exception {
    for (String line = in.readLine(); line != null; line = in.readLine()) {
      if (line.isBlank()) {
        continue;
      }
      String[] parts = line.split("\t");
      SchemaPairCompatibility pair =
          SchemaCompatibility.checkReaderWriterCompatibility(parse(parts[1]), parse(parts[2]));
      List<Map<String, String>> problems = new ArrayList<>();
      for (Incompatibility problem : pair.getResult().getIncompatibilities()) {
        Map<String, String> described = new LinkedHashMap<>();
        described.put("type", problem.getType().toString());
        described.put("location", problem.getLocation());
        described.put("message", problem.getMessage());
        problems.add(described);
      }
      Map<String, Object> out = new LinkedHashMap<>();
      out.put("label", parts[0]);
      out.put("compatible", pair.getType()
          == SchemaCompatibility.SchemaCompatibilityType.COMPATIBLE);
      out.put("incompatibilities", problems);
      System.out.println(JSON.writeValueAsString(out));
    }
  }

  private static void decode(BufferedReader in) throws Exception {
    Map<String, BinaryMessageDecoder<GenericRecord>> decoders = new HashMap<>();
    for (String line = in.readLine(); line != null; line = in.readLine()) {
      if (line.isBlank()) {
        continue;
      }
      String[] parts = line.split("\t");
      String key = String.join("\t", Arrays.asList(parts).subList(2, parts.length)) + "\t" + parts[0];
      BinaryMessageDecoder<GenericRecord> decoder = decoders.get(key);
      if (decoder == null) {
        decoder = new BinaryMessageDecoder<>(GenericData.get(), parse(parts[0]));
        for (int i = 2; i < parts.length; i++) {
          decoder.addSchema(parse(parts[i]));
        }
        decoders.put(key, decoder);
      }
      Map<String, Object> out = new LinkedHashMap<>();
      try {
        out.put("datum", plain(decoder.decode(HexFormat.of().parseHex(parts[1]))));
      } catch (Exception e) {
        out.put("error", e.getClass().getSimpleName() + ": " + e.getMessage());
      }
      System.out.println(JSON.writeValueAsString(out));
    }
  }

  /** Generic datum to plain JSON values: timestamps stay longs, bytes become hex. */
  private static Object plain(Object value) {
    if (value instanceof GenericRecord record) {
      Map<String, Object> fields = new LinkedHashMap<>();
      for (Schema.Field field : record.getSchema().getFields()) {
        fields.put(field.name(), plain(record.get(field.pos())));
      }
      return fields;
    }
    if (value instanceof Map<?, ?> map) {
      Map<String, Object> entries = new LinkedHashMap<>();
      map.forEach((k, v) -> entries.put(k.toString(), plain(v)));
      return entries;
    }
    if (value instanceof List<?> list) {
      List<Object> items = new ArrayList<>();
      list.forEach(item -> items.add(plain(item)));
      return items;
    }
    if (value instanceof ByteBuffer buffer) {
      byte[] bytes = new byte[buffer.remaining()];
      buffer.duplicate().get(bytes);
      return HexFormat.of().formatHex(bytes);
    }
    if (value instanceof GenericFixed fixed) {
      return HexFormat.of().formatHex(fixed.bytes());
    }
    if (value instanceof GenericEnumSymbol<?> || value instanceof CharSequence) {
      return value.toString();
    }
    return value;
  }
}
