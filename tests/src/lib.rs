//! Harness for kprod's integration tests: a real Apache Kafka broker started by
//! `tests/broker/kafka.sh`, topic administration, and an independent verifier.
#![deny(missing_docs)]
