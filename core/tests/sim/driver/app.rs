//! The application side of [`Sim`]: what it calls when (`send` with retries up to
//! `max.block.ms`, `flush`, `close`; the transactional application is in `txn.rs`).

use super::*;

impl Sim {
    pub(super) fn app_step(&mut self) {
        match self.phase {
            Phase::Sending if self.txn_app.is_some() => self.txn_app_step(),
            Phase::Sending => self.send_due(),
            Phase::Flushing(deadline) => {
                let pending = self.producer.pending_batches();
                if pending == 0 || self.now >= deadline {
                    if pending > 0 {
                        self.violation(format!(
                            "{pending} batches incomplete at delivery.timeout + request.timeout after flush"
                        ));
                    }
                    let deadline = self.now + self.sc.close_timeout;
                    self.log(|| "close".into());
                    self.woken_at = Some(self.now);
                    self.producer.close(deadline, self.now);
                    self.phase = Phase::Closing(deadline);
                    self.drain();
                    // `close` may have finished at once: the application sees it now, rather
                    // than at the engine's next deadline.
                    self.app_step();
                }
            }
            Phase::Closing(deadline) => {
                let pending = self.producer.pending_batches();
                let open = self.net.open_links().count();
                if pending == 0 && open == 0 && !self.net.has_traffic() {
                    self.phase = Phase::Done;
                } else if self.now >= deadline + self.sc.config.request_timeout {
                    if pending > 0 {
                        self.violation(format!("{pending} batches incomplete after the close deadline"));
                    }
                    if open > 0 {
                        self.violation(format!("{open} connections still open after close completed"));
                    }
                    self.phase = Phase::Done;
                }
            }
            Phase::Done => {}
        }
    }

    /// Sends the due records, then flushes once every record was sent.
    pub(in crate::sim) fn send_due(&mut self) {
        self.send_records(self.sc.records.len());
        if self.next == self.sc.records.len() {
            self.log(|| "flush".into());
            self.producer.flush(self.now);
            self.woken_at = Some(self.now);
            let c = &self.sc.config;
            self.phase = Phase::Flushing(self.now + c.delivery_timeout + c.request_timeout + c.linger);
            self.drain();
        }
    }

    /// Sends the records due now, up to (not including) planned record `end`.
    pub(in crate::sim) fn send_records(&mut self, end: usize) {
        while let Some(r) = self.sc.records.get(self.next).filter(|r| r.at <= self.now && self.next < end) {
            let rec = ProducerRecord {
                topic: &r.topic,
                partition: r.partition,
                key: r.key.as_deref(),
                value: Some(&r.value),
                headers: &[],
                timestamp: 1_700_000_000_000 + self.now.as_millis() as i64,
            };
            let result = self.producer.send(&rec, self.now);
            self.woken_at = Some(self.now);
            let i = self.next;
            self.log(|| format!("send #{i} -> {result:?}"));
            match result {
                Ok(id) => {
                    let partitions = self.producer.partition_count(&self.sc.records[i].topic);
                    self.out.accepted.push(Accepted { planned: i, id, at: self.now, partitions });
                    self.next += 1;
                    self.blocked_since = None;
                    // The drivers' wake-up rule: only a new batch whose partition can send now.
                    if id.index == 0 && !self.producer.last_partition_saturated() {
                        self.drain();
                    }
                    continue;
                }
                Err(e) if e.is_retriable() => {
                    let since = *self.blocked_since.get_or_insert(self.now);
                    if self.now < since + self.sc.config.max_block {
                        self.drain();
                        return;
                    }
                    self.out.refused.push((i, e));
                    self.next += 1;
                    self.blocked_since = None;
                }
                Err(e) => {
                    self.out.refused.push((i, e));
                    self.next += 1;
                    self.blocked_since = None;
                }
            }
            self.drain();
        }
    }
}
