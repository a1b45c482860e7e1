package kprod.vectors;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.kafka.common.compress.Compression;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.record.MemoryRecords;
import org.apache.kafka.common.record.MemoryRecordsBuilder;
import org.apache.kafka.common.record.RecordBatch;
import org.apache.kafka.common.record.TimestampType;
import org.apache.kafka.common.utils.AppInfoParser;

import java.io.File;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Builds record batch v2 vectors with kafka-clients' MemoryRecordsBuilder.
 *
 * GenBatches CASES_JSON OUT_DIR
 *
 * CASES_JSON is the hex-encoded case list written by gen_python.py (from
 * cases.py), so the Java and Python encoders get identical inputs. The JSON
 * written next to each .bin is built from those inputs; only "crc" is taken
 * from the library (RecordBatch.checksum()).
 */
public final class GenBatches {
    static final ObjectMapper M = new ObjectMapper();
    static final HexFormat HEX = HexFormat.of();

    static Map<String, Compression> codecs() {
        Map<String, Compression> c = new LinkedHashMap<>();
        c.put("none", Compression.NONE);
        c.put("gzip", Compression.gzip().build());
        c.put("snappy", Compression.snappy().build());
        c.put("lz4", Compression.lz4().build());
        c.put("zstd", Compression.zstd().build());
        return c;
    }

    static byte[] hex(JsonNode n) {
        return n == null || n.isNull() ? null : HEX.parseHex(n.asText());
    }

    static String b64(byte[] b) {
        return b == null ? null : Base64.getEncoder().encodeToString(b);
    }

    public static void main(String[] args) throws Exception {
        JsonNode cases = M.readTree(new File(args[0]));
        Path out = Path.of(args[1]);
        Files.createDirectories(out);
        String source = "kafka-clients " + AppInfoParser.getVersion();
        int n = 0;
        for (JsonNode c : cases) {
            for (Map.Entry<String, Compression> e : codecs().entrySet()) {
                write(out, source, c, e.getKey(), e.getValue(), c.get("partition_leader_epoch").asInt(), "", null);
                n++;
            }
            if (c.get("name").asText().equals("basic")) {
                // What the real Java producer writes: NO_PARTITION_LEADER_EPOCH (-1)
                // (RecordAccumulator -> MemoryRecords.builder(..., TimestampType.CREATE_TIME, 0L)).
                write(out, source, c, "none", Compression.NONE, RecordBatch.NO_PARTITION_LEADER_EPOCH, "-ple",
                      "partition_leader_epoch = -1 (RecordBatch.NO_PARTITION_LEADER_EPOCH), as the Java producer writes it");
                n++;
            }
        }
        System.out.println("GenBatches: " + n + " vectors (" + source + ")");
    }

    static void write(Path out, String source, JsonNode c, String codecName, Compression compression,
                      int leaderEpoch, String suffix, String notes) throws Exception {
        long producerId = c.get("producer_id").asLong();
        short producerEpoch = (short) c.get("producer_epoch").asInt();
        int baseSequence = c.get("base_sequence").asInt();
        boolean txn = c.get("is_transactional").asBoolean();
        long baseOffset = c.get("base_offset").asLong();

        MemoryRecordsBuilder b = MemoryRecords.builder(ByteBuffer.allocate(1 << 16), RecordBatch.MAGIC_VALUE_V2,
                compression, TimestampType.CREATE_TIME, baseOffset, RecordBatch.NO_TIMESTAMP,
                producerId, producerEpoch, baseSequence, txn, leaderEpoch);

        ArrayNode recs = M.createArrayNode();
        long maxTs = Long.MIN_VALUE;
        long baseTs = 0;
        boolean first = true;
        int lastDelta = 0;
        for (JsonNode r : c.get("records")) {
            int delta = r.get("offset_delta").asInt();
            long ts = r.get("timestamp").asLong();
            byte[] key = hex(r.get("key_hex"));
            byte[] value = hex(r.get("value_hex"));
            JsonNode hs = r.get("headers");
            Header[] headers = new Header[hs.size()];
            ArrayNode hj = M.createArrayNode();
            for (int i = 0; i < hs.size(); i++) {
                String hk = hs.get(i).get(0).asText();
                byte[] hv = hex(hs.get(i).get(1));
                headers[i] = new RecordHeader(hk, hv);
                ArrayNode pair = M.createArrayNode();
                pair.add(hk);
                pair.add(b64(hv));
                hj.add(pair);
            }
            b.appendWithOffset(baseOffset + delta, ts, key, value, headers);

            if (first) { baseTs = ts; first = false; }
            maxTs = Math.max(maxTs, ts);
            lastDelta = delta;
            ObjectNode rj = M.createObjectNode();
            rj.put("offset_delta", delta);
            rj.put("timestamp", ts);
            rj.put("key_b64", b64(key));
            rj.put("value_b64", b64(value));
            rj.set("headers", hj);
            recs.add(rj);
        }
        MemoryRecords records = b.build();
        ByteBuffer buf = records.buffer();
        byte[] bytes = new byte[buf.remaining()];
        buf.get(bytes);
        long crc = records.firstBatch().checksum();  // from the library

        int codecId = compression.type().id;
        ObjectNode j = M.createObjectNode();
        j.put("source", source);
        j.put("case", c.get("name").asText() + suffix);
        j.put("description", c.get("description").asText());
        j.put("codec", codecName);
        j.put("requested_codec", codecName);
        j.put("magic", 2);
        j.put("attributes", codecId | (txn ? 0x10 : 0));
        j.put("base_offset", baseOffset);
        j.put("partition_leader_epoch", leaderEpoch);
        j.put("producer_id", producerId);
        j.put("producer_epoch", producerEpoch);
        j.put("base_sequence", baseSequence);
        j.put("is_transactional", txn);
        j.put("timestamp_type", 0);
        j.put("base_timestamp", baseTs);
        j.put("max_timestamp", maxTs);
        j.put("last_offset_delta", lastDelta);
        j.put("crc", crc);
        j.put("record_count", c.get("records").size());
        if (notes != null) j.put("notes", notes);
        j.set("records", recs);

        String name = "java_" + codecName + "_" + c.get("name").asText() + suffix;
        Files.write(out.resolve(name + ".bin"), bytes);
        M.writeValue(out.resolve(name + ".json").toFile(), j);
    }
}
