package example;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.stream.Stream;

import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * Rebuilds one mailbox's folder tree from the folders and messages topics and prints it with
 * counts: the state a downstream system (search, compliance, analytics) would keep.
 *
 * <p>How to consume the topics, in short: records are Avro single-object encoded, so Avro's
 * BinaryMessageDecoder reads them given the .avsc files (every released version is added as a
 * writer schema, the newest is the reader); per key only the highest {@code version} counts;
 * a withdrawn message (made Personal or Private) is dropped; a deleted message or folder stays,
 * marked, at its last known folder.
 *
 * <p>Usage: {@code FolderTree BOOTSTRAP TOPIC_PREFIX SCHEMA_DIR MAILBOX}
 */
public final class FolderTree {
    private static final Duration POLL = Duration.ofMillis(500);

    private FolderTree() {
    }

    public static void main(String[] args) throws IOException {
        if (args.length != 4) {
            System.err.println("usage: FolderTree BOOTSTRAP TOPIC_PREFIX SCHEMA_DIR MAILBOX");
            System.exit(2);
        }
        String bootstrap = args[0];
        String prefix = args[1];
        Path schemas = Path.of(args[2]);
        String mailbox = args[3].strip().toLowerCase(Locale.ROOT);
        BinaryMessageDecoder<GenericRecord> folderDecoder = decoder(schemas, "FolderState");
        BinaryMessageDecoder<GenericRecord> messageDecoder = decoder(schemas, "MessageState");
        Map<String, GenericRecord> folders = new HashMap<>();
        Map<String, GenericRecord> messages = new HashMap<>();
        String foldersTopic = prefix + ".folders";
        for (ConsumerRecord<String, byte[]> record : readAll(bootstrap, foldersTopic, prefix + ".messages")) {
            if (!isAvro(record) || !mailbox.equals(mailboxOf(record.key()))) {
                continue; // the key starts with the mailbox: skip others without decoding
            }
            boolean isFolder = record.topic().equals(foldersTopic);
            GenericRecord state = (isFolder ? folderDecoder : messageDecoder).decode(record.value());
            keepNewest(isFolder ? folders : messages, record.key(), state);
        }
        System.out.print(render(mailbox, folders.values(), messages.values()));
    }

    /** A decoder that reads records of every released version into the newest schema. */
    static BinaryMessageDecoder<GenericRecord> decoder(Path schemaDir, String name) throws IOException {
        Schema reader = parse(schemaDir.resolve(name + ".avsc"));
        BinaryMessageDecoder<GenericRecord> decoder = new BinaryMessageDecoder<>(GenericData.get(), reader);
        Path released = schemaDir.resolve("released").resolve(name);
        if (Files.isDirectory(released)) {
            try (Stream<Path> versions = Files.list(released)) {
                for (Path version : versions.filter(p -> p.toString().endsWith(".avsc")).toList()) {
                    decoder.addSchema(parse(version));
                }
            }
        }
        return decoder;
    }

    private static Schema parse(Path path) throws IOException {
        return new Schema.Parser().parse(Files.readString(path)); // one parser per file: names repeat
    }

    /** Every record the topics hold now, from the oldest, without a consumer group. */
    static List<ConsumerRecord<String, byte[]>> readAll(String bootstrap, String... topics) {
        Properties config = new Properties();
        config.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        config.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        List<ConsumerRecord<String, byte[]>> all = new ArrayList<>();
        try (KafkaConsumer<String, byte[]> consumer =
                new KafkaConsumer<>(config, new StringDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> partitions = new ArrayList<>();
            for (String topic : topics) {
                consumer.partitionsFor(topic).forEach(p -> partitions.add(new TopicPartition(topic, p.partition())));
            }
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            Map<TopicPartition, Long> end = consumer.endOffsets(partitions);
            Set<TopicPartition> behind = new HashSet<>(partitions);
            while (!behind.isEmpty()) {
                consumer.poll(POLL).forEach(all::add);
                behind.removeIf(p -> consumer.position(p) >= end.get(p));
            }
        }
        return all;
    }

    /** The content-type header says a record is single-object Avro, before decoding it. */
    static boolean isAvro(ConsumerRecord<String, byte[]> record) {
        Header type = record.headers().lastHeader("content-type");
        return type != null
            && new String(type.value(), StandardCharsets.UTF_8).startsWith("application/vnd.apache.avro+binary");
    }

    /** The mailbox a key is about: keys are "mailbox" then, space-separated, the entity's key. */
    static String mailboxOf(String key) {
        int space = key.indexOf(' ');
        return space < 0 ? key : key.substring(0, space);
    }

    /** Keep a state unless one with the same or a higher version is held (replays, duplicates). */
    static void keepNewest(Map<String, GenericRecord> held, String key, GenericRecord state) {
        GenericRecord current = held.get(key);
        if (current == null || (long) state.get("version") > (long) current.get("version")) {
            held.put(key, state);
        }
    }

    static String render(String mailbox, Iterable<GenericRecord> folders, Iterable<GenericRecord> messages) {
        Map<String, long[]> counts = new HashMap<>(); // folder key -> messages, deleted, unread
        for (GenericRecord message : messages) {
            if ((boolean) message.get("withdrawn")) {
                continue; // Personal or Private now: it must not be shown or counted
            }
            boolean deleted = (boolean) message.get("deleted");
            long[] c = counts.computeIfAbsent(text(message.get("last_known_folder_key")), k -> new long[3]);
            c[0]++;
            c[1] += deleted ? 1 : 0;
            c[2] += Boolean.FALSE.equals(message.get("is_read")) && !deleted ? 1 : 0;
        }
        Map<String, GenericRecord> byKey = new HashMap<>();
        folders.forEach(f -> byKey.put(text(f.get("folder_key")), f));
        Map<String, List<GenericRecord>> children = new HashMap<>();
        for (GenericRecord folder : byKey.values()) {
            String parent = text(folder.get("parent_folder_key"));
            children.computeIfAbsent(byKey.containsKey(parent) ? parent : "", k -> new ArrayList<>()).add(folder);
        }
        StringBuilder out = new StringBuilder("mailbox " + mailbox + "\n");
        walk(children, counts, "", 0, out, new HashSet<>());
        return out.toString();
    }

    private static void walk(Map<String, List<GenericRecord>> children, Map<String, long[]> counts,
                             String parent, int depth, StringBuilder out, Set<String> seen) {
        List<GenericRecord> siblings = new ArrayList<>(children.getOrDefault(parent, List.of()));
        siblings.sort(Comparator.comparing((GenericRecord f) -> (boolean) f.get("deleted"))
            .thenComparing(f -> text(f.get("display_name")).toLowerCase(Locale.ROOT))
            .thenComparing(f -> text(f.get("folder_key"))));
        for (GenericRecord folder : siblings) {
            String key = text(folder.get("folder_key"));
            if (!seen.add(key)) {
                continue; // a parent cycle in bad data must not loop forever
            }
            long[] c = counts.getOrDefault(key, new long[3]);
            out.append("  ".repeat(depth)).append(text(folder.get("display_name")))
                .append((boolean) folder.get("deleted") ? " (deleted)" : "")
                .append(": ").append(c[0]).append(" messages, ").append(c[1]).append(" deleted, ")
                .append(c[2]).append(" unread\n");
            walk(children, counts, key, depth + 1, out, seen);
        }
    }

    private static String text(Object value) {
        return value == null ? "" : value.toString(); // Avro strings are Utf8, not String
    }
}
