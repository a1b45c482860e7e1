//! The transaction settings: `transactional.id` and `transaction.timeout.ms`, and the rules
//! that tie them to idempotence (a transactional producer is idempotent with `acks=all`, as in
//! the Java client).

use core::time::Duration;

use super::{parse_ms, Acks, Config, ConfigError, MAX_IN_FLIGHT_IDEMPOTENT};

/// The longest `transactional.id` kprod keeps (it lives inside the configuration, which holds no
/// borrowed strings but `client.id`).
pub const MAX_TRANSACTIONAL_ID_LEN: usize = 255;

/// The transaction settings of a [`Config`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnConfig {
    /// `transactional.id`: `None` (the default) for a producer without transactions.
    pub transactional_id: Option<heapless::String<MAX_TRANSACTIONAL_ID_LEN>>,
    /// `transaction.timeout.ms`: how long the coordinator lets a transaction stay open before
    /// it aborts it (default 60 s; the broker caps it at `transaction.max.timeout.ms`).
    pub timeout: Duration,
}

impl Default for TxnConfig {
    fn default() -> Self {
        Self { transactional_id: None, timeout: Duration::from_secs(60) }
    }
}

impl TxnConfig {
    /// The transactional id, if set.
    pub fn id(&self) -> Option<&str> {
        self.transactional_id.as_deref()
    }

    /// Sets `transactional.id` (empty: none) or `transaction.timeout.ms`. `Ok(false)` for
    /// another property.
    pub(super) fn set_property(&mut self, name: &str, value: &str) -> Result<bool, ConfigError> {
        match name {
            "transactional.id" if value.is_empty() => self.transactional_id = None,
            "transactional.id" => {
                let id = heapless::String::try_from(value).map_err(|_| ConfigError::InvalidValue {
                    setting: "transactional.id",
                    expected: "at most 255 bytes",
                })?;
                self.transactional_id = Some(id);
            }
            "transaction.timeout.ms" => self.timeout = parse_ms("transaction.timeout.ms", value)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// With a transactional id: the settings it needs (idempotence, `acks=all`, retries, at most
    /// 5 requests in flight), each conflict naming both settings. Returns whether the producer is
    /// transactional.
    pub(super) fn check(config: &Config<'_>) -> Result<bool, ConfigError> {
        if config.transactions.transactional_id.is_none() {
            return Ok(false);
        }
        if !cfg!(feature = "transactions") {
            return Err(ConfigError::InvalidValue {
                setting: "transactional.id",
                expected: "no value: this build of kprod-core has no `transactions` feature",
            });
        }
        let conflict = |settings, rule| Err(ConfigError::Conflict { settings, rule });
        if config.enable_idempotence == Some(false) {
            return conflict(&["transactional.id", "enable.idempotence"], "transactions need enable.idempotence=true");
        }
        if config.acks != Acks::All {
            return conflict(&["transactional.id", "acks"], "transactions need acks=all");
        }
        if config.retries == 0 {
            return conflict(&["transactional.id", "retries"], "transactions need retries > 0");
        }
        if config.max_in_flight > MAX_IN_FLIGHT_IDEMPOTENT {
            return conflict(
                &["transactional.id", "max.in.flight.requests.per.connection"],
                "transactions allow at most 5 requests in flight per connection",
            );
        }
        if config.transactions.timeout.is_zero() || config.transactions.timeout.as_millis() > i32::MAX as u128 {
            return Err(ConfigError::InvalidValue { setting: "transaction.timeout.ms", expected: "1 to 2147483647" });
        }
        Ok(true)
    }
}
