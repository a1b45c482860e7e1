// Prints every property name of the Java producer's ConfigDef, one per line, sorted. Run with
// the Kafka jars on the class path (Java's single-file source launcher, no build step):
//   java -cp '.cache/kafka-<version>/libs/*' tests/broker/ListProducerConfig.java
// tests/tests/property_table.rs uses it to check kprod's property table covers every name.
import org.apache.kafka.clients.producer.ProducerConfig;

public class ListProducerConfig {
    public static void main(String[] args) {
        for (String name : new java.util.TreeSet<>(ProducerConfig.configDef().names())) {
            System.out.println(name);
        }
    }
}
