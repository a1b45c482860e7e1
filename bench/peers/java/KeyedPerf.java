/*
 * Kafka's ProducerPerformance with keys and several topics, for scripts/bench.sh.
 *
 * Kafka 4.3's ProducerPerformance sends null keys to one topic. The keyed and the 1,000-topic
 * scenarios need `--keys K` (record i has the key "key-<i mod K>", partitioned by the Java
 * client's default murmur2 partitioner) and `--topics M` (record i goes to TOPIC-<i mod M>), as
 * the other peers take them (bench/peers/README.md). Everything else follows ProducerPerformance:
 * the same command line (--topic --num-records --record-size|--payload-file --throughput
 * --command-property|--producer-props NAME=VALUE ... --producer.config FILE --transactional-id
 * --transaction-duration-ms), a fresh payload of random A-Z per record (one
 * SplittableRandom.nextInt(26) per byte, as ProducerPerformance), a send with a callback per
 * record, the throttler, a window line every 5 s and the same final line. Percentiles come from at
 * most 500,000 evenly sampled latencies.
 *
 * Built by scripts/bench.sh: javac -cp 'KAFKA_LIBS/*' -d target/bench-java KeyedPerf.java
 */

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Properties;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.kafka.clients.producer.Callback;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public final class KeyedPerf {
    private static final long REPORTING_INTERVAL_MS = 5000;
    private static final int MAX_SAMPLES = 500_000;

    public static void main(String[] argv) throws Exception {
        String topic = null, payloadFile = null, txnId = null;
        long numRecords = -1, keys = 0, txnMs = 0;
        int recordSize = -1, topicCount = 0;
        double throughput = Double.NaN;
        Properties props = new Properties();
        for (int i = 0; i < argv.length; i++) {
            String a = argv[i];
            switch (a) {
                case "--topic": topic = argv[++i]; break;
                case "--num-records": numRecords = Long.parseLong(argv[++i]); break;
                case "--record-size": recordSize = Integer.parseInt(argv[++i]); break;
                case "--payload-file": payloadFile = argv[++i]; break;
                case "--throughput": throughput = Double.parseDouble(argv[++i]); break;
                case "--keys": keys = Long.parseLong(argv[++i]); break;
                case "--topics": topicCount = Integer.parseInt(argv[++i]); break;
                case "--transactional-id": txnId = argv[++i]; if (txnMs == 0) txnMs = 3000; break;
                case "--transaction-duration-ms": txnMs = Long.parseLong(argv[++i]); break;
                case "--producer.config":
                    try (java.io.Reader r = Files.newBufferedReader(Paths.get(argv[++i]))) {
                        props.load(r);
                    }
                    break;
                case "--command-property":
                case "--producer-props":
                    while (i + 1 < argv.length && !argv[i + 1].startsWith("--")) {
                        String p = argv[++i];
                        int eq = p.indexOf('=');
                        if (eq < 0) throw new IllegalArgumentException("invalid property " + p + ": expected NAME=VALUE");
                        props.put(p.substring(0, eq), p.substring(eq + 1));
                    }
                    break;
                default: throw new IllegalArgumentException("unknown argument " + a);
            }
        }
        if (topic == null || numRecords < 1 || Double.isNaN(throughput) || throughput == 0
                || (recordSize < 1) == (payloadFile == null) || keys < 0 || topicCount < 0)
            throw new IllegalArgumentException("usage: KeyedPerf --topic T --num-records N (--record-size S | "
                + "--payload-file F) --throughput R|-1 --command-property NAME=VALUE... [--keys K] [--topics M] "
                + "[--transactional-id ID] [--transaction-duration-ms MS]");
        if (txnMs > 0 && txnId == null) txnId = "performance-producer-" + ProcessHandle.current().pid();
        props.putIfAbsent(ProducerConfig.CLIENT_ID_CONFIG, "perf-producer-client");
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        if (txnId != null) props.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, txnId);

        List<byte[]> lines = new ArrayList<>();
        if (payloadFile != null) {
            for (String line : new String(Files.readAllBytes(Paths.get(payloadFile)), StandardCharsets.UTF_8).split("\n"))
                if (!line.isEmpty()) lines.add(line.getBytes(StandardCharsets.UTF_8));
            if (lines.isEmpty()) throw new IllegalArgumentException("--payload-file " + payloadFile + ": no payloads");
        }
        String[] topics = topicCount == 0 ? new String[] {topic} : new String[topicCount];
        for (int j = 0; j < topicCount; j++) topics[j] = topic + "-" + j;

        SplittableRandom random = new SplittableRandom(0);
        Stats stats = new Stats(numRecords);
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props)) {
            if (txnId != null) producer.initTransactions();
            long startMs = System.currentTimeMillis();
            stats.start(startMs);
            Throttler throttler = new Throttler(throughput, startMs);
            long txnStart = 0;
            long inTxn = 0;
            for (long i = 0; i < numRecords; i++) {
                if (txnId != null && inTxn == 0) {
                    producer.beginTransaction();
                    txnStart = System.currentTimeMillis();
                }
                byte[] value;
                if (payloadFile != null) {
                    value = lines.get(random.nextInt(lines.size()));
                } else {
                    value = new byte[recordSize];
                    for (int b = 0; b < recordSize; b++) value[b] = (byte) (random.nextInt(26) + 65);
                }
                byte[] key = keys > 0 ? ("key-" + (i % keys)).getBytes(StandardCharsets.US_ASCII) : null;
                long sendStart = System.currentTimeMillis();
                int size = value.length;
                producer.send(new ProducerRecord<>(topics[(int) (i % topics.length)], key, value),
                    (Callback) (metadata, e) -> stats.complete(sendStart, size, e));
                inTxn++;
                if (txnId != null && txnMs <= sendStart - txnStart) {
                    producer.commitTransaction();
                    inTxn = 0;
                }
                if (throttler.shouldThrottle(i, sendStart)) throttler.throttle();
            }
            if (txnId != null && inTxn != 0) producer.commitTransaction();
            producer.flush();
            stats.printTotal(System.currentTimeMillis());
        }
        if (stats.failed.get() > 0) {
            System.err.println("KeyedPerf: " + stats.failed.get() + " records failed");
            System.exit(1);
        }
    }

    /** ProducerPerformance.Stats; callbacks run on the producer's IO thread. */
    static final class Stats {
        final int sampling;
        final int[] latencies;
        int index;
        long iteration, count, bytes, totalLatency, maxLatency;
        long start, wStart, wCount, wBytes, wTotal, wMax;
        final AtomicLong failed = new AtomicLong();

        Stats(long numRecords) {
            sampling = (int) (numRecords / Math.min(numRecords, MAX_SAMPLES));
            latencies = new int[(int) (numRecords / sampling) + 1];
        }

        void start(long ms) { start = ms; wStart = ms; }

        synchronized void complete(long sendStart, int size, Exception e) {
            if (e != null) {
                if (failed.incrementAndGet() <= 10) System.err.println("delivery failed: " + e);
                return;
            }
            long now = System.currentTimeMillis();
            long latency = now - sendStart;
            count++; bytes += size; totalLatency += latency; maxLatency = Math.max(maxLatency, latency);
            wCount++; wBytes += size; wTotal += latency; wMax = Math.max(wMax, latency);
            if (iteration % sampling == 0 && index < latencies.length) latencies[index++] = (int) latency;
            iteration++;
            if (now - wStart >= REPORTING_INTERVAL_MS) {
                double secs = (now - wStart) / 1000.0;
                System.out.printf("%d records sent, %.1f records/sec (%.2f MB/sec), %.1f ms avg latency, %.1f ms max latency.%n",
                    wCount, wCount / secs, wBytes / secs / (1024.0 * 1024.0), wTotal / (double) wCount, (double) wMax);
                wStart = now; wCount = 0; wBytes = 0; wTotal = 0; wMax = 0;
            }
        }

        synchronized void printTotal(long now) {
            long elapsed = Math.max(now - start, 1);
            int[] l = Arrays.copyOf(latencies, index);
            Arrays.sort(l);
            System.out.printf("%d records sent, %f records/sec (%.2f MB/sec), %.2f ms avg latency, %.2f ms max latency, "
                    + "%d ms 50th, %d ms 95th, %d ms 99th, %d ms 99.9th.%n",
                count, 1000.0 * count / elapsed, 1000.0 * bytes / elapsed / (1024.0 * 1024.0),
                count == 0 ? 0.0 : totalLatency / (double) count, (double) maxLatency,
                pct(l, 0.5), pct(l, 0.95), pct(l, 0.99), pct(l, 0.999));
        }

        static int pct(int[] l, double q) {
            int i = (int) (q * l.length);
            return i < l.length ? l[i] : 0;
        }
    }

    /** ProducerPerformance's ThroughputThrottler (records per second). */
    static final class Throttler {
        final double target;
        final long startMs, sleepNsPerRecord;
        long deficitNs;

        Throttler(double target, long startMs) {
            this.target = target;
            this.startMs = startMs;
            this.sleepNsPerRecord = target > 0 ? (long) (1e9 / target) : 0;
        }

        boolean shouldThrottle(long sent, long nowMs) {
            if (target < 0) return false;
            double secs = (nowMs - startMs) / 1000.0;
            return secs > 0 && sent / secs > target;
        }

        void throttle() throws InterruptedException {
            deficitNs += sleepNsPerRecord;
            if (deficitNs >= 2_000_000) {
                Thread.sleep(deficitNs / 1_000_000, (int) (deficitNs % 1_000_000));
                deficitNs = 0;
            }
        }
    }
}
