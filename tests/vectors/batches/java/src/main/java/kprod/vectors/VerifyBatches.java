package kprod.vectors;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.record.DefaultRecordBatch;
import org.apache.kafka.common.record.MemoryRecords;
import org.apache.kafka.common.record.MutableRecordBatch;
import org.apache.kafka.common.record.Record;
import org.apache.kafka.common.record.TimestampType;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.Iterator;
import java.util.List;
import java.util.Objects;
import java.util.stream.Stream;

/**
 * Decodes every NAME.bin in a directory with kafka-clients (DefaultRecordBatch,
 * ensureValid = CRC check, real decompression) and compares it with NAME.json.
 * Used to cross-decode the kafka-python vectors with the Java client.
 *
 * VerifyBatches DIR
 */
public final class VerifyBatches {
    static final ObjectMapper M = new ObjectMapper();

    static void eq(List<String> errs, String what, Object expected, Object actual) {
        if (!Objects.equals(expected, actual)) errs.add(what + ": expected " + expected + " got " + actual);
    }

    static byte[] b64(JsonNode n) {
        return n == null || n.isNull() ? null : Base64.getDecoder().decode(n.asText());
    }

    static byte[] bytes(ByteBuffer b) {
        if (b == null) return null;
        byte[] a = new byte[b.remaining()];
        b.duplicate().get(a);
        return a;
    }

    public static void main(String[] args) throws Exception {
        List<Path> jsons;
        try (Stream<Path> s = Files.list(Path.of(args[0]))) {
            jsons = s.filter(p -> p.toString().endsWith(".json") && !p.getFileName().toString().equals("index.json"))
                     .sorted().toList();
        }
        int passed = 0, failed = 0;
        for (Path jp : jsons) {
            String name = jp.getFileName().toString().replaceAll("\\.json$", "");
            List<String> errs = new ArrayList<>();
            try {
                JsonNode j = M.readTree(jp.toFile());
                byte[] bin = Files.readAllBytes(jp.resolveSibling(name + ".bin"));
                MemoryRecords mr = MemoryRecords.readableRecords(ByteBuffer.wrap(bin));
                Iterator<MutableRecordBatch> it = mr.batches().iterator();
                DefaultRecordBatch batch = (DefaultRecordBatch) it.next();
                if (it.hasNext()) errs.add("more than one batch");
                batch.ensureValid();  // CRC-32C over attributes..end
                eq(errs, "size", bin.length, batch.sizeInBytes());
                eq(errs, "magic", (byte) 2, batch.magic());
                eq(errs, "crc", j.get("crc").asLong(), batch.checksum());
                eq(errs, "attributes", j.get("attributes").asInt(),
                   batch.compressionType().id | (batch.isTransactional() ? 0x10 : 0)
                   | (batch.timestampType() == TimestampType.LOG_APPEND_TIME ? 0x08 : 0)
                   | (batch.isControlBatch() ? 0x20 : 0));
                eq(errs, "codec", j.get("codec").asText(), batch.compressionType().name);
                eq(errs, "base_offset", j.get("base_offset").asLong(), batch.baseOffset());
                eq(errs, "partition_leader_epoch", j.get("partition_leader_epoch").asInt(), batch.partitionLeaderEpoch());
                eq(errs, "producer_id", j.get("producer_id").asLong(), batch.producerId());
                eq(errs, "producer_epoch", (short) j.get("producer_epoch").asInt(), batch.producerEpoch());
                eq(errs, "base_sequence", j.get("base_sequence").asInt(), batch.baseSequence());
                eq(errs, "is_transactional", j.get("is_transactional").asBoolean(), batch.isTransactional());
                eq(errs, "timestamp_type", j.get("timestamp_type").asInt(), batch.timestampType().id);
                eq(errs, "base_timestamp", j.get("base_timestamp").asLong(), batch.baseTimestamp());
                eq(errs, "max_timestamp", j.get("max_timestamp").asLong(), batch.maxTimestamp());
                eq(errs, "last_offset_delta", j.get("last_offset_delta").asLong(), batch.lastOffset() - batch.baseOffset());
                eq(errs, "record_count", j.get("record_count").asInt(), batch.countOrNull());
                JsonNode recs = j.get("records");
                int i = 0;
                {
                    Iterator<Record> ri = batch.iterator();  // decompresses
                    while (ri.hasNext()) {
                        Record r = ri.next();
                        if (i >= recs.size()) { errs.add("extra record " + i); i++; continue; }
                        JsonNode e = recs.get(i);
                        String p = "record[" + i + "].";
                        eq(errs, p + "offset", batch.baseOffset() + e.get("offset_delta").asLong(), r.offset());
                        eq(errs, p + "timestamp", e.get("timestamp").asLong(), r.timestamp());
                        if (!Arrays.equals(b64(e.get("key_b64")), bytes(r.key()))) errs.add(p + "key differs");
                        if (!Arrays.equals(b64(e.get("value_b64")), bytes(r.value()))) errs.add(p + "value differs");
                        Header[] hs = r.headers();
                        JsonNode eh = e.get("headers");
                        if (hs.length != eh.size()) errs.add(p + "header count " + hs.length + " != " + eh.size());
                        else for (int h = 0; h < hs.length; h++) {
                            eq(errs, p + "header[" + h + "].key", eh.get(h).get(0).asText(), hs[h].key());
                            if (!Arrays.equals(b64(eh.get(h).get(1)), hs[h].value())) errs.add(p + "header[" + h + "].value differs");
                        }
                        i++;
                    }
                }
                eq(errs, "decoded record count", recs.size(), i);
            } catch (Exception ex) {
                errs.add("exception: " + ex);
            }
            if (errs.isEmpty()) passed++;
            else {
                failed++;
                System.out.println("FAIL " + name + ": " + String.join("; ", errs.subList(0, Math.min(5, errs.size()))));
            }
        }
        System.out.println("java-decode: " + passed + " passed, " + failed + " failed");
        if (failed != 0 || passed == 0) System.exit(1);
    }
}
