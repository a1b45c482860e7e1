package kprod.vectors;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.kafka.common.utils.AppInfoParser;
import org.apache.kafka.common.utils.Utils;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * murmur2 partitioner vectors from org.apache.kafka.common.utils.Utils.
 *
 * Murmur2Vectors OUT_JSON
 *
 * For each key: Utils.murmur2(key) (Java int) and, for each partition count n,
 * Utils.toPositive(murmur2) % n -- exactly what BuiltInPartitioner.partitionForKey
 * computes for a keyed record.
 */
public final class Murmur2Vectors {
    static final int[] NS = {1, 2, 3, 6, 7, 12, 100, 1000};

    /** splitmix64, same as cases.py / check_python.py. */
    static final class SplitMix64 {
        long state;
        SplitMix64(long seed) { state = seed; }
        long next() {
            long z = (state += 0x9E3779B97F4A7C15L);
            z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
            z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
            return z ^ (z >>> 31);
        }
        int below(int n) { return (int) Long.remainderUnsigned(next(), n); }
    }

    static byte[] seq(int len, int start) {
        byte[] b = new byte[len];
        for (int i = 0; i < len; i++) b[i] = (byte) (start + i);
        return b;
    }

    static byte[] fill(int len, int v) {
        byte[] b = new byte[len];
        java.util.Arrays.fill(b, (byte) v);
        return b;
    }

    static List<Object[]> keys() {
        List<Object[]> k = new ArrayList<>();  // {label, bytes}
        k.add(new Object[]{"empty", new byte[0]});
        for (int len : new int[]{1, 2, 3, 4, 5, 7, 8, 9}) {
            k.add(new Object[]{"seq" + len + " 0x01..", seq(len, 1)});
            k.add(new Object[]{"high" + len + " 0x80..", seq(len, 0x80)});
            k.add(new Object[]{"ff" + len, fill(len, 0xff)});
        }
        for (String s : new String[]{"a", "b", "ab", "abc", "abcd", "abcde", "kafka", "hello world", "key",
                "key-0", "key-1", "key-2", "user-42", "0", "1", "42", "test", "partition", "The quick brown fox jumps over the lazy dog",
                "\u00e9", "\u043a\u043b\u044e\u0447", "\u65e5\u672c\u8a9e", "\ud83d\ude00"}) {
            k.add(new Object[]{"utf8 " + s, s.getBytes(StandardCharsets.UTF_8)});
        }
        // sign-extension traps: each tail length with a high byte in each position
        k.add(new Object[]{"tail1 0x80", new byte[]{(byte) 0x80}});
        k.add(new Object[]{"tail2 0x00 0x80", new byte[]{0x00, (byte) 0x80}});
        k.add(new Object[]{"tail3 0x00 0x00 0x80", new byte[]{0x00, 0x00, (byte) 0x80}});
        k.add(new Object[]{"body 0x00 0x00 0x00 0x80", new byte[]{0x00, 0x00, 0x00, (byte) 0x80}});
        k.add(new Object[]{"body+tail 0xfe..", fill(7, 0xfe)});
        k.add(new Object[]{"long 200 0x00..0xc7", seq(200, 0)});
        k.add(new Object[]{"long 201 0x80..", seq(201, 0x80)});
        k.add(new Object[]{"long 256 0x00..0xff", seq(256, 0)});
        k.add(new Object[]{"long 203 'x'", fill(203, 'x')});
        SplitMix64 rng = new SplitMix64(0x6B70726FL);  // "kpro"
        for (int i = 0; i < 500; i++) {
            int len = rng.below(65);
            byte[] b = new byte[len];
            for (int j = 0; j < len; j++) b[j] = (byte) rng.next();
            k.add(new Object[]{"prng " + i, b});
        }
        return k;
    }

    public static void main(String[] args) throws Exception {
        ObjectMapper m = new ObjectMapper();
        ObjectNode root = m.createObjectNode();
        root.put("source", "kafka-clients " + AppInfoParser.getVersion()
                + " org.apache.kafka.common.utils.Utils.murmur2 / toPositive");
        ArrayNode arr = root.putArray("vectors");
        for (Object[] kv : keys()) {
            byte[] key = (byte[]) kv[1];
            int h = Utils.murmur2(key);
            ObjectNode o = arr.addObject();
            o.put("label", (String) kv[0]);
            o.put("key_hex", HexFormat.of().formatHex(key));
            o.put("murmur2", h);
            ObjectNode parts = o.putObject("partitions");
            for (int n : NS) parts.put(Integer.toString(n), Utils.toPositive(h) % n);
        }
        m.writeValue(new File(args[0]), root);
        System.out.println("Murmur2Vectors: " + arr.size() + " keys");
    }
}
