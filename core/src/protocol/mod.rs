//! Kafka protocol messages: headers, API keys and version choice, error codes, and one module per API.
