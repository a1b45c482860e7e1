//! Draining the engine after every input, in its documented order (transmit, events, then the
//! timeout), and what [`Sim`] does with each output: frames onto the network, completions
//! recorded, connects opened.

use super::*;
use crate::sim::scenario::JobMode;

impl Sim {
    pub(in crate::sim) fn drain(&mut self) {
        let mut outputs = 0u32;
        loop {
            let mut any = false;
            loop {
                match self.producer.poll_transmit(self.now, &mut self.tx) {
                    Ok(Some(t)) => {
                        any = true;
                        self.outputs += 1;
                        self.on_transmit(t);
                    }
                    Ok(None) => break,
                    Err(TransmitError::BufferTooSmall { needed }) => {
                        if needed <= self.tx.len() {
                            self.violation(format!(
                                "BufferTooSmall needs {needed} but the buffer has {}",
                                self.tx.len()
                            ));
                            return;
                        }
                        self.tx.resize(needed, 0);
                    }
                }
                outputs += 1;
                if outputs > MAX_OUTPUTS {
                    self.violation("poll_transmit never returns None".into());
                    return;
                }
            }
            while let Some(e) = self.producer.poll_event() {
                any = true;
                self.outputs += 1;
                self.on_event(e);
                outputs += 1;
                if outputs > MAX_OUTPUTS {
                    self.violation("poll_event never returns None".into());
                    return;
                }
            }
            if let Some(r) = self.producer.poll_txn() {
                any = true;
                self.outputs += 1;
                if self.txn_app.is_some() {
                    self.on_txn_result(r);
                } else {
                    self.violation(format!("a transactional result {r:?} without transactions"));
                }
            }
            if !any {
                break;
            }
        }
        self.take_jobs();
        self.timer = self.producer.poll_timeout();
        self.check_memory();
    }

    /// Takes every compression job the engine offers (kprod-std's IO thread takes one between
    /// rounds, a blocked sender more), per the scenario's [`JobMode`].
    fn take_jobs(&mut self) {
        if self.sc.jobs == JobMode::Off {
            return;
        }
        while let Some((job, records)) = self.producer.take_compression_job(self.now) {
            self.out.jobs_taken += 1;
            let records = records.to_vec();
            let mut out = vec![0; job.max_output_len(records.len())];
            let result = job.compress(&records, &mut out).map(|n| out[..n].to_vec());
            match self.sc.jobs {
                JobMode::Off | JobMode::Lost => {}
                JobMode::AtOnce => self.finish_job(job, result),
                JobMode::Later(us) => {
                    self.jobs_out.push((self.now + core::time::Duration::from_micros(us), job, result));
                }
            }
        }
    }

    fn finish_job(&mut self, job: CompressionJob, result: Option<Vec<u8>>) {
        let took = self.producer.finish_compression_job(job, result.as_deref());
        self.out.jobs_finished += u64::from(took);
        self.out.jobs_dropped += u64::from(!took);
        self.log(|| format!("compression job {job:?} back: {}", if took { "taken" } else { "dropped" }));
    }

    /// When the next job taken goes back.
    pub(in crate::sim) fn jobs_due(&self) -> Option<Instant> {
        self.jobs_out.iter().map(|j| j.0).min()
    }

    /// Hands back the jobs due now.
    pub(in crate::sim) fn finish_due_jobs(&mut self) {
        let now = self.now;
        let (due, later): (Vec<_>, Vec<_>) = self.jobs_out.drain(..).partition(|j| j.0 <= now);
        self.jobs_out = later;
        for (_, job, result) in due {
            self.finish_job(job, result);
        }
    }

    pub(super) fn check_memory(&mut self) {
        let limit = self.sc.config.buffer_memory;
        let (free, gauge) = (self.producer.free_buffer(), self.producer.metrics().buffer_free);
        if free > limit || gauge > limit {
            self.violation(format!("buffer accounting: free {free}, metric {gauge}, buffer.memory {limit}"));
        }
    }

    pub(super) fn on_transmit(&mut self, t: Transmit) {
        let frame = self.tx[..t.len].to_vec();
        let mut wire = if self.out.wire == 0 { 0xcbf2_9ce4_8422_2325 } else { self.out.wire };
        for &b in &frame {
            wire = (wire ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.out.wire = wire;
        let whole = matches!(split_frame(&frame, usize::MAX), Ok(Some((_, used))) if used == frame.len());
        if !whole {
            self.violation(format!("transmit on {:?} is not exactly one frame ({} bytes)", t.conn, t.len));
            return;
        }
        let link = self.net.current(t.conn).filter(|&l| self.net.links[l].connected);
        self.log(|| format!("transmit {:?} {} bytes (link {link:?})", t.conn, t.len));
        let Some(l) = link else {
            self.violation(format!("transmit on {:?}, which is not connected", t.conn));
            return;
        };
        let at = self.now + self.latency();
        if self.rng.chance(self.faults().lose_request) {
            self.log(|| format!("fault: link {l} drops before the request arrives"));
            let drop_at = self.now.max(self.net.links[l].last_up);
            self.net.schedule(drop_at, NetEvent::Drop(l));
        }
        let at = self.net.arrival_up(l, at);
        self.net.schedule(at, NetEvent::ToBroker(l, frame));
    }

    pub(super) fn on_event(&mut self, e: Event) {
        self.log(|| format!("event {e:?}"));
        match e {
            Event::Connect(conn) => self.connect(conn),
            Event::Close(conn) => {
                if let Some(l) = self.net.current(conn) {
                    let lost = self.rng.chance(self.faults().close_loses);
                    let link = &mut self.net.links[l];
                    link.client_open = false;
                    link.broker_open &= !lost;
                }
            }
            Event::Completed(c) => self.complete(c),
            Event::Fatal(f) => {
                if self.out.fatal.is_some() {
                    self.violation(format!("second Fatal event {f:?}"));
                }
                self.out.fatal = Some(f);
            }
            // An Event::Close for the connection follows; the trace above records why.
            Event::ConnectionFailed { .. } => {}
        }
    }

    pub(super) fn complete(&mut self, done: kprod_core::producer::Completion<u16>) {
        let (batch, topic) = (done.batch(), *done.topic());
        let Some(name) = self.producer.topic_name(topic).map(str::to_owned) else {
            self.violation(format!("completion of {batch:?} names unknown topic index {topic}"));
            return;
        };
        let (partition, records, result) = (done.partition(), done.records(), done.result());
        let (first, more) = (done.first(), done.more());
        if let Some(c) = self.out.completions.get_mut(&batch) {
            // A later part of a split batch: it must follow its previous part.
            if c.more && first == c.records && (c.topic.as_str(), c.partition) == (name.as_str(), partition) {
                c.records += records;
                c.parts.push((first, records, result));
                c.more = more;
                c.at = self.now;
                if c.result.is_ok() && result.is_err() {
                    c.result = result;
                }
                return;
            }
            let old = c.clone();
            self.violation(format!("second completion for {batch:?} from record {first} (first {old:?})"));
            return;
        }
        if first != 0 {
            self.violation(format!("completion of {batch:?} starts at record {first}"));
        }
        let parts = vec![(first, records, result)];
        let c = Completion { topic: name, partition, records, result, at: self.now, parts, more };
        self.out.completions.insert(batch, c);
        self.out.order.push(batch);
    }

    pub(super) fn connect(&mut self, conn: ConnId) {
        if let Some(old) = self.net.current(conn) {
            self.violation(format!("Connect({conn:?}) while its link {old} is still open"));
            self.net.links[old].client_open = false;
            self.net.links[old].broker_open = false;
        }
        let addr = self.producer.address(conn).map(|(h, p)| (node_of(h), p));
        let Some((Some(node), PORT)) = addr else {
            self.violation(format!("Connect({conn:?}) to a bad address {addr:?}"));
            // A driver cannot connect there: it reports the failure.
            self.producer.handle_disconnected(conn, self.now);
            return;
        };
        let l = self.net.open(conn, node, self.now);
        let lat = self.latency();
        if self.cluster.is_up(node) && !self.rng.chance(self.faults().connect_fail) {
            self.net.schedule(self.now + lat, NetEvent::Connected(l));
        } else {
            // No broker at all there: refused at once; a broker that is down may also leave the
            // connect hanging until the driver's connect timeout.
            let refused = self.rng.chance(500) || !self.cluster.brokers.iter().any(|b| b.id == node);
            let after = if refused { lat } else { core::time::Duration::from_millis(self.rng.range(100, 3000)) };
            self.net.schedule(self.now + after, NetEvent::ConnectFailed(l));
        }
    }

    pub(super) fn latency(&mut self) -> core::time::Duration {
        let (lo, hi) = self.faults().latency;
        core::time::Duration::from_micros(self.rng.range(lo, hi))
    }
}
