//! The network and the brokers of [`Sim`]: link events, the brokers reading requests and
//! answering them (with the scenario's faults), and the client reading the answers.

use super::*;

impl Sim {
    pub(super) fn process(&mut self, ev: NetEvent) {
        match ev {
            NetEvent::Connected(l) => {
                let link = &mut self.net.links[l];
                if !link.client_open {
                    return;
                }
                if !self.cluster.is_up(link.node) {
                    return self.drop_link(l);
                }
                link.connected = true;
                let conn = link.conn;
                self.log(|| format!("connected {conn:?} (link {l})"));
                self.producer.handle_connected(conn, self.now);
            }
            NetEvent::ConnectFailed(l) => {
                self.log(|| format!("connect failed (link {l})"));
                self.drop_link(l);
            }
            NetEvent::ToBroker(l, bytes) => self.broker_read(l, bytes),
            NetEvent::ToClient(l, bytes) => self.client_read(l, bytes),
            NetEvent::Drop(l) => {
                self.log(|| format!("link {l} drops"));
                self.drop_link(l);
            }
            NetEvent::Cluster(e) => self.cluster_event(e),
            NetEvent::Wake => {}
        }
    }

    pub(super) fn drop_link(&mut self, l: usize) {
        let link = &mut self.net.links[l];
        link.broker_open = false;
        if link.client_open {
            link.client_open = false;
            let conn = link.conn;
            self.producer.handle_disconnected(conn, self.now);
        }
    }

    pub(super) fn cluster_event(&mut self, e: ClusterEvent) {
        self.log(|| format!("cluster {e:?}"));
        match e {
            ClusterEvent::BrokerDown(node) => {
                let rng = &mut self.rng;
                self.cluster.broker_down(node, |up| rng.pick(up));
                let links: Vec<usize> = (0..self.net.links.len()).filter(|&l| self.net.links[l].node == node).collect();
                for l in links {
                    self.drop_link(l);
                }
            }
            ClusterEvent::BrokerUp(node) => self.cluster.broker_up(node),
            ClusterEvent::LeaderMove { topic, partition, to } => {
                if self.cluster.is_up(to) {
                    self.cluster.move_leader(topic, partition, to);
                }
            }
            ClusterEvent::GrowTopic { topic, partitions } => self.cluster.grow_topic(topic, partitions),
            ClusterEvent::CoordinatorMove { .. } | ClusterEvent::Fence => {}
        }
        if self.cluster.txn.is_some() {
            self.txn_event(e);
        }
    }

    pub(super) fn broker_read(&mut self, l: usize, bytes: Vec<u8>) {
        let node = self.net.links[l].node;
        if !self.net.links[l].broker_open || !self.cluster.is_up(node) {
            return;
        }
        self.net.links[l].broker_rx.extend_from_slice(&bytes);
        loop {
            let rx = &self.net.links[l].broker_rx;
            let (frame, used) = match split_frame(rx, 64 << 20) {
                Ok(Some((frame, used))) => (frame.to_vec(), used),
                Ok(None) => return,
                Err(e) => {
                    self.violation(format!("request stream broken: {e}"));
                    return self.drop_link(l);
                }
            };
            self.net.links[l].broker_rx.drain(..used);
            let frame_faults = FrameFaults {
                stale_metadata: self.rng.chance(self.sc.faults.stale_metadata),
                init_error: self.rng.chance(self.sc.faults.init_error),
                txn: self.txn_frame_faults(),
            };
            let (rng, faults, hook, sick) = (&mut self.rng, &self.sc.faults, &mut self.produce_hook, &mut self.sick);
            let mut inject = |ctx: &ProduceCtx<'_>| {
                hook.as_mut().and_then(|h| h(ctx)).or_else(|| random_error(rng, faults, sick, ctx))
            };
            let (auth, violations) = (&mut self.net.links[l].auth, &mut self.cluster.violations);
            let expired = matches!(auth, crate::sim::sasl::LinkAuth::Authed(Some(end)) if *end <= self.now);
            let (api, reply) =
                match crate::sim::sasl::intercept(&self.sc.sasl, auth, node, &frame, self.now, violations) {
                    Some(handled) => handled,
                    None => self.cluster.handle_frame(node, &frame, self.now, frame_faults, &mut inject),
                };
            if expired
                && matches!(reply, Reply::Close)
                && !matches!(api, ApiKey::SaslHandshake | ApiKey::SaslAuthenticate)
            {
                // Not a fault the scenario drew: the latency let a request arrive after the
                // session the engine had to renew.
                self.out.expired_sessions += 1;
                self.log(|| format!("broker {node} closes link {l}: {api:?} after the SASL session ended"));
            }
            for note in core::mem::take(&mut self.cluster.notes) {
                self.log(|| note);
            }
            for v in self.cluster.violations.drain(..) {
                self.out.violations.push(format!("t={}µs: broker {node}: {v}", self.now.as_micros()));
            }
            self.respond(l, api, reply);
            if !self.net.links[l].broker_open {
                return;
            }
        }
    }

    /// Metadata requests must back off: at most about two per `retry.backoff.ms` (and 20 more)
    /// in any second.
    pub(super) fn check_metadata_rate(&mut self) {
        let second = core::time::Duration::from_secs(1);
        while self.metadata_window.front().is_some_and(|&t| t + second <= self.now) {
            self.metadata_window.pop_front();
        }
        self.metadata_window.push_back(self.now);
        let backoff = self.sc.config.retry_backoff.as_millis().max(1) as usize;
        let limit = 2 * 1000 / backoff + 20;
        if self.metadata_window.len() > limit && !self.hot_loop_reported {
            self.hot_loop_reported = true;
            self.violation(format!(
                "metadata hot loop: {} Metadata requests within one second",
                self.metadata_window.len()
            ));
            // Going on would only repeat it, slowly: stop here.
            self.out.aborted = true;
            self.phase = Phase::Done;
        }
    }

    pub(super) fn respond(&mut self, l: usize, api: ApiKey, reply: Reply) {
        if api == ApiKey::Metadata {
            self.check_metadata_rate();
        }
        let nth = self.answered.entry(api.code()).or_insert(0);
        let ctx = ResponseCtx {
            now: self.now,
            node: self.net.links[l].node,
            api,
            nth: *nth,
            appended: self.cluster.stats.appended,
        };
        *nth += 1;
        self.net.links[l].requests += 1;
        let bytes = match reply {
            Reply::Nothing => return,
            Reply::Close => {
                let at = self.now + self.latency();
                return self.net.schedule(at, NetEvent::Drop(l));
            }
            Reply::Response(bytes) => bytes,
        };
        let fate = self.response_hook.as_mut().and_then(|h| h(&ctx)).unwrap_or_else(|| {
            let f = &self.sc.faults;
            let (lose, slow, slow_max) = (f.lose_response, f.slow_response, f.slow_max);
            if self.rng.chance(lose) || api == ApiKey::EndTxn && self.txn_lose_end() {
                Fate::Lose
            } else if self.rng.chance(slow) {
                Fate::Delay(self.rng.range(0, slow_max))
            } else {
                Fate::Deliver
            }
        });
        self.log(|| format!("broker {} answers {api:?} #{} ({} bytes): {fate:?}", ctx.node, ctx.nth, bytes.len()));
        let extra = match fate {
            Fate::Lose => {
                let at = self.now + core::time::Duration::from_micros(1);
                self.net.links[l].broker_open = false;
                return self.net.schedule(at, NetEvent::Drop(l));
            }
            Fate::Delay(us) => core::time::Duration::from_micros(us),
            Fate::Deliver => core::time::Duration::ZERO,
        };
        let mut at = self.now + self.latency() + extra;
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let n = if self.sc.faults.split_reads { self.rng.range(1, rest.len() as u64) as usize } else { rest.len() };
            let arrival = self.net.arrival_down(l, at);
            self.net.schedule(arrival, NetEvent::ToClient(l, rest[..n].to_vec()));
            rest = &rest[n..];
            at = at + core::time::Duration::from_micros(self.rng.below(3) * 50);
        }
    }

    pub(super) fn client_read(&mut self, l: usize, bytes: Vec<u8>) {
        let link = &mut self.net.links[l];
        if !link.client_open {
            return;
        }
        link.client_rx.extend_from_slice(&bytes);
        let conn = link.conn;
        if matches!(self.net.peek_due(self.now), Some(NetEvent::ToClient(next, _)) if *next == l) {
            // More bytes arrive at the same instant: the driver reads them together.
            return;
        }
        let rx = core::mem::take(&mut self.net.links[l].client_rx);
        let used = self.producer.handle_read(conn, &rx, self.now);
        self.log(|| format!("handle_read {conn:?} {} bytes -> consumed {used}", rx.len()));
        if used > rx.len() {
            self.violation(format!("handle_read consumed {used} of {} bytes", rx.len()));
        }
        let left = rx[used.min(rx.len())..].to_vec();
        if matches!(split_frame(&left, usize::MAX), Ok(Some(_))) && self.net.links[l].client_open {
            self.violation(format!("handle_read left a whole frame unconsumed on {conn:?}"));
        }
        self.net.links[l].client_rx = left;
    }
}

/// The random Produce errors of a faulty run. Errors that refuse the write start a window in
/// which the partition keeps refusing (1 to 300 ms); errors after the write are per request.
fn random_error(
    rng: &mut SimRng,
    faults: &Faults,
    sick: &mut BTreeMap<(String, i32), (Instant, Injected)>,
    ctx: &ProduceCtx<'_>,
) -> Option<Injected> {
    let key = (ctx.topic.to_owned(), ctx.partition);
    if let Some(&(until, injected)) = sick.get(&key).filter(|(until, _)| ctx.now < *until) {
        let _ = until;
        return Some(injected);
    }
    if !rng.chance(faults.partition_error) {
        return None;
    }
    let injected = match rng.below(6) {
        0 => Injected::Before(ErrorCode::NotEnoughReplicas),
        1 => Injected::Before(ErrorCode::KafkaStorageError),
        2 => return Some(Injected::After(ErrorCode::RequestTimedOut)),
        3 => return Some(Injected::After(ErrorCode::NotEnoughReplicasAfterAppend)),
        4 => Injected::NotLeader(None),
        _ => Injected::NotLeader(faults.hints.then_some(ctx.leader)),
    };
    let until = ctx.now + core::time::Duration::from_micros(rng.range(1_000, 300_000));
    sick.insert(key, (until, injected));
    Some(injected)
}
