//! SASL on each connection: the steps between ApiVersions and the first Metadata or Produce,
//! and KIP-368 re-authentication.
//!
//! With `security.protocol=SASL_*` a connection stays in its handshake after ApiVersions:
//! SaslHandshake v1 names the mechanism, then SaslAuthenticate requests carry the mechanism's
//! messages (KIP-152) until it is done. Only then is the connection ready, so no Metadata,
//! InitProducerId or Produce goes out unauthenticated. When the broker gives a session lifetime
//! (SaslAuthenticate v1+), the connection re-authenticates at a random point between 85% and
//! 95% of it (the Java client's window; the seeded RNG picks it), counted from when its last
//! SaslAuthenticate was sent: it puts no new request on the connection, lets the ones in flight
//! be answered, runs SaslHandshake and SaslAuthenticate again (no ApiVersions), and goes on. Nothing in flight is failed or sent twice.
//!
//! A failed authentication is fatal for that broker: the connection fails with
//! [`ConnError::Authentication`] (the broker's message, truncated to a fixed buffer), the engine
//! does not connect to that broker again until the credentials change (a new OAUTHBEARER token),
//! and the batches of partitions it leads fail with [`DeliveryError::Authentication`], once.
//!
//! What the driver hands in (the core has no randomness and no clock of its own):
//! - entropy for the SCRAM client nonce ([`Producer::handle_entropy`], e.g. 32 bytes from the
//!   OS), before the first SCRAM connection; without it SCRAM fails with
//!   [`AuthError::NoEntropy`];
//! - an OAUTHBEARER token, unless the configuration has a static one: when a connection needs
//!   one, [`Producer::oauth_token_wanted`] is true, and the driver calls
//!   [`Producer::handle_oauth_token`] (feature `alloc`). A re-authentication waits for a fresh
//!   token.

use super::conn::{ConnError, ConnId, ConnState, Connection, RequestKind};
use super::engine::Producer;
use super::metadata::PartitionIdx;
use super::transmit::{write_request, Transmit, TransmitError};
use super::types::{DeliveryError, Outcome, SendError};
use crate::partitioner::Partitioner;
use crate::protocol::sasl_authenticate::SaslAuthenticateResponse;
use crate::protocol::sasl_handshake::{SaslHandshakeRequest, SaslHandshakeResponse};
use crate::protocol::{ApiKey, Ctx, Encode, ErrorCode, Request, Response};
use crate::sasl::scram::{self, ClientFinal, NONCE_LEN};
use crate::sasl::{oauthbearer, AuthError, Mechanism, Message, SaslConfig, Text};
use crate::time::Instant;
use crate::wire::{Counter, EncodeError, Sink};

type Polled = Result<Option<Transmit>, TransmitError>;

/// Where a connection's SASL exchange is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Not authenticating (SASL off, or done).
    Idle,
    /// SaslHandshake goes next.
    Handshake,
    /// SaslHandshake is in flight.
    AwaitHandshake,
    /// This SaslAuthenticate round goes next.
    Send(Round),
    /// This round is in flight.
    Await(Round),
    /// OAUTHBEARER waits for a token from the driver.
    NeedToken,
}

/// One SaslAuthenticate round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Round {
    Plain,
    ScramFirst,
    ScramFinal,
    OAuth,
    /// The answer to the broker's error challenge (RFC 7628 3.2.3).
    OAuthAck,
}

/// A connection's SASL state; part of its [`Connection`] slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConnSasl {
    step: Step,
    /// When to re-authenticate (KIP-368), if the broker gave a session lifetime.
    reauth_at: Option<Instant>,
    /// SaslHandshake and SaslAuthenticate versions.
    versions: (i16, i16),
    nonce: [u8; NONCE_LEN],
    scram: Option<ClientFinal>,
    /// The token generation this connection last authenticated with.
    token_generation: u32,
    /// This exchange re-authenticates a connection that was ready.
    reauth: bool,
    /// Why authentication with this broker failed: the engine does not connect to it again.
    pub(crate) failed: Option<AuthError>,
}

impl ConnSasl {
    /// A new slot's state.
    pub(crate) const EMPTY: Self = Self {
        step: Step::Idle,
        reauth_at: None,
        versions: (1, 0),
        nonce: [0; NONCE_LEN],
        scram: None,
        token_generation: 0,
        reauth: false,
        failed: None,
    };

    /// A new socket (or none): any exchange under way is gone; a failure stays.
    pub(crate) fn restart(&mut self) {
        *self = Self { failed: self.failed, token_generation: self.token_generation, ..Self::EMPTY };
    }

    /// Whether an exchange is under way (the handshake state sends SASL, not ApiVersions).
    pub(crate) const fn active(&self) -> bool {
        !matches!(self.step, Step::Idle)
    }

    /// Whether re-authentication is due at `now`: no new request may go out.
    pub(crate) fn reauth_due(&self, now: Instant) -> bool {
        self.reauth_at.is_some_and(|t| t <= now)
    }

    /// Whether a request could go out at `t` as far as re-authentication decides: before it is
    /// due, or when nothing is in flight (then re-authentication itself starts at its own,
    /// earlier, deadline).
    pub(crate) fn usable_at(&self, t: Instant, idle: bool) -> bool {
        idle || self.reauth_at.is_none_or(|r| t < r)
    }
}

/// The engine's SASL state shared by its connections.
#[derive(Debug, Default)]
pub(crate) struct Auth {
    /// Key for SCRAM nonces, from the driver's entropy.
    entropy: Option<[u8; 32]>,
    nonces: u64,
    /// The application's OAUTHBEARER token.
    #[cfg(feature = "alloc")]
    token: Option<alloc::string::String>,
    /// Bumped by each token handed in.
    token_generation: u32,
    /// Some broker refused authentication.
    any_failed: bool,
}

impl<P: Partitioner> Producer<'_, P> {
    // ---- inputs ----

    /// Entropy for the SCRAM client nonce: at least 32 unpredictable bytes (from the OS, a
    /// hardware RNG) before the first SCRAM connection. More calls mix more in. The simulator
    /// passes seeded bytes, so runs replay.
    pub fn handle_entropy(&mut self, entropy: &[u8]) {
        if !cfg!(feature = "sasl") {
            return;
        }
        let key = self.auth.entropy.unwrap_or([0; 32]);
        let mixed = scram::mix_entropy(&key, entropy);
        self.auth.entropy = Some(mixed);
    }

    /// A fresh OAUTHBEARER token (the compact JWT), e.g. from the application's token provider,
    /// or [`crate::sasl::oauthbearer::unsecured_token`] for Kafka's unsecured test tokens.
    /// Connections waiting for a token go on; brokers that refused the previous one are tried
    /// again.
    #[cfg(feature = "alloc")]
    pub fn handle_oauth_token(&mut self, token: &str, now: Instant) {
        self.now = self.now.max(now);
        self.auth.token = Some(alloc::string::String::from(token.trim()));
        self.auth.token_generation = self.auth.token_generation.wrapping_add(1);
        if self.auth.any_failed {
            self.auth.any_failed = false;
            self.conns.iter_mut().for_each(|c| c.sasl.failed = None);
        }
    }

    // ---- getters ----

    /// Whether a connection waits for an OAUTHBEARER token
    /// ([`Producer::handle_oauth_token`]). Check it after each drain.
    pub fn oauth_token_wanted(&self) -> bool {
        self.conns.iter().any(|c| c.is_used() && c.sasl.step == Step::NeedToken)
    }

    /// Why authentication with `conn`'s broker failed, with the broker's message.
    pub fn auth_error(&self, conn: ConnId) -> Option<AuthError> {
        self.conns.get(usize::from(conn.0)).and_then(|c| c.sasl.failed)
    }

    // ---- hooks for the connection state machine ----

    /// After ApiVersions: starts SASL if it is on. Returns whether it did (the connection stays
    /// in its handshake). `versions` are the broker's SaslHandshake and SaslAuthenticate.
    pub(super) fn begin_sasl(&mut self, i: usize, versions: (Option<i16>, Option<i16>)) -> Result<bool, ConnError> {
        // Without the `sasl` feature this is constant false: every SASL path is dead code and
        // the linker leaves it (SHA-2, PBKDF2) out.
        if !(cfg!(feature = "sasl") && self.config.sasl.enabled) {
            return Ok(false);
        }
        let (Some(handshake), Some(authenticate)) = versions else {
            return Err(ConnError::Authentication(AuthError::UnsupportedVersion));
        };
        if handshake < 1 {
            return Err(ConnError::Authentication(AuthError::UnsupportedVersion));
        }
        let s = &mut self.conns[i].sasl;
        s.versions = (handshake, authenticate);
        s.step = Step::Handshake;
        Ok(true)
    }

    /// The handshake state's next request: ApiVersions, or the SASL step under way.
    pub(super) fn send_handshake(&mut self, i: usize, now: Instant, buf: &mut [u8]) -> Polled {
        if !cfg!(feature = "sasl") || !self.conns[i].sasl.active() {
            return self.send_api_versions(i, now, buf);
        }
        let sasl = self.config.sasl;
        let Some(mechanism) = sasl.mechanism else {
            return Ok(None);
        };
        let (handshake, authenticate) = self.conns[i].sasl.versions;
        let round = match self.conns[i].sasl.step {
            Step::Handshake => {
                let req = SaslHandshakeRequest { mechanism: mechanism.name() };
                let kind = (RequestKind::SaslHandshake, handshake);
                let sent = write_request(&mut self.conns[i], i, self.config.client_id, kind, &req, true, now, buf)?;
                if sent.is_some() {
                    self.conns[i].sasl.step = Step::AwaitHandshake;
                }
                return Ok(sent.map(|(t, _)| t));
            }
            Step::NeedToken if self.token_ready(i) => Round::OAuth,
            Step::Send(round) => round,
            _ => return Ok(None),
        };
        if round == Round::ScramFirst && !self.new_nonce(i) {
            self.close_broken(i, ConnError::Authentication(AuthError::NoEntropy), now);
            return Ok(None);
        }
        let s = &self.conns[i].sasl;
        let (nonce, scram_final) = (s.nonce, s.scram.clone());
        let token = token_of(&sasl, &self.auth);
        let msg = match round {
            Round::Plain => sasl.credentials().map(|(u, p)| AuthMsg::Plain(u, p)),
            Round::ScramFirst => sasl.scram_user().map(|u| AuthMsg::ScramFirst(u, &nonce)),
            Round::ScramFinal => scram_final.as_ref().map(|f| AuthMsg::Raw(f.message())),
            Round::OAuth => token.map(|t| AuthMsg::OAuth(t, sasl)),
            Round::OAuthAck => Some(AuthMsg::Raw(oauthbearer::ERROR_ACK)),
        };
        let Some(msg) = msg else {
            return Ok(None);
        };
        let generation = self.auth.token_generation;
        let kind = (RequestKind::SaslAuthenticate, authenticate);
        let req = AuthRequest(msg);
        let sent = write_request(&mut self.conns[i], i, self.config.client_id, kind, &req, true, now, buf)?;
        if sent.is_some() {
            let s = &mut self.conns[i].sasl;
            s.step = Step::Await(round);
            if round == Round::OAuth {
                s.token_generation = generation;
            }
        }
        Ok(sent.map(|(t, _)| t))
    }

    /// A ready connection whose session is due for re-authentication: once nothing is in
    /// flight, it goes back to its handshake. Returns `None` while responses are awaited.
    pub(super) fn maybe_reauthenticate(&mut self, i: usize, now: Instant, buf: &mut [u8]) -> Option<Polled> {
        let c = &mut self.conns[i];
        if !cfg!(feature = "sasl") || !c.sasl.reauth_due(now) {
            return None;
        }
        if !c.in_flight.is_empty() {
            return Some(Ok(None));
        }
        c.state = ConnState::Handshake;
        c.sasl.reauth_at = None;
        c.sasl.reauth = true;
        c.sasl.step = Step::Handshake;
        Some(self.send_handshake(i, now, buf))
    }

    /// A SaslHandshake or SaslAuthenticate response.
    pub(super) fn on_sasl(
        &mut self,
        i: usize,
        kind: RequestKind,
        version: i16,
        body: &[u8],
        (sent, now): (Instant, Instant),
    ) -> Result<(), ConnError> {
        let undecodable = ConnError::Undecodable { api: kind.api(), version };
        if !cfg!(feature = "sasl") {
            return Err(undecodable);
        }
        let mechanism = self.config.sasl.mechanism.unwrap_or(Mechanism::Plain);
        if kind == RequestKind::SaslHandshake {
            let resp = SaslHandshakeResponse::decode(version, body).map_err(|_| undecodable)?;
            return self.on_handshake(i, mechanism, &resp);
        }
        let resp = SaslAuthenticateResponse::decode(version, body).map_err(|_| undecodable)?;
        if resp.error_code != ErrorCode::None {
            let message = Message::new(resp.error_message.unwrap_or_default().as_bytes());
            return Err(ConnError::Authentication(AuthError::Failed { mechanism, code: resp.error_code, message }));
        }
        let Step::Await(round) = self.conns[i].sasl.step else {
            return Err(ConnError::Unsolicited);
        };
        let next = match round {
            Round::ScramFirst => {
                let hash = mechanism.scram_hash().unwrap_or(scram::ScramHash::Sha256);
                let user = self.config.sasl.scram_user().ok_or(undecodable)?;
                let s = &mut self.conns[i].sasl;
                let fin = scram::client_final(hash, &user, &s.nonce, resp.auth_bytes).map_err(scram_failure(&[]))?;
                s.scram = Some(fin);
                Some(Round::ScramFinal)
            }
            Round::ScramFinal => {
                let fin = self.conns[i].sasl.scram.take().ok_or(undecodable)?;
                let text = scram::server_error(resp.auth_bytes).unwrap_or_default();
                fin.verify_server_final(resp.auth_bytes).map_err(scram_failure(text))?;
                None
            }
            // A challenge after the token is the broker's JSON error: acknowledge it, and the
            // broker fails the exchange with its message.
            Round::OAuth if !resp.auth_bytes.is_empty() => Some(Round::OAuthAck),
            Round::OAuthAck => {
                let message = Message::new(b"the broker refused the OAUTHBEARER token");
                let code = ErrorCode::SaslAuthenticationFailed;
                return Err(ConnError::Authentication(AuthError::Failed { mechanism, code, message }));
            }
            Round::Plain | Round::OAuth => None,
        };
        match next {
            Some(round) => self.conns[i].sasl.step = Step::Send(round),
            None => self.authenticated(i, resp.session_lifetime_ms, (sent, now)),
        }
        Ok(())
    }

    fn on_handshake(
        &mut self,
        i: usize,
        mechanism: Mechanism,
        resp: &SaslHandshakeResponse<'_>,
    ) -> Result<(), ConnError> {
        match resp.error_code {
            ErrorCode::None => {}
            ErrorCode::UnsupportedSaslMechanism => {
                let mut enabled = Message::EMPTY;
                for (n, m) in resp.mechanisms.iter().enumerate() {
                    enabled.push(if n == 0 { "" } else { ", " });
                    enabled.push(m);
                }
                return Err(ConnError::Authentication(AuthError::UnsupportedMechanism { mechanism, enabled }));
            }
            code => return Err(ConnError::Authentication(AuthError::Handshake(code))),
        }
        let first = match mechanism {
            Mechanism::Plain => Step::Send(Round::Plain),
            Mechanism::ScramSha256 | Mechanism::ScramSha512 => Step::Send(Round::ScramFirst),
            Mechanism::OAuthBearer => Step::NeedToken,
        };
        self.conns[i].sasl.step = first;
        Ok(())
    }

    /// The exchange succeeded: the connection is ready (again), and re-authenticates at 85-95%
    /// of the session lifetime if the broker gave one, counted from `sent`, when the last
    /// SaslAuthenticate went out. The broker's session starts when it reads that request, never
    /// earlier, and a request reaching it after the session ended closes the connection (KIP-368;
    /// with acks=0 what it carried is lost). Java counts from the answer's arrival, so the
    /// answer's trip back eats into the 5-15% margin that must cover the next request's trip
    /// there; counted from the send, the margin is whole. Never sooner than half the lifetime
    /// after the answer, though: an exchange whose round trip takes most of the session would
    /// otherwise re-authenticate again at once, and nothing else would go out.
    fn authenticated(&mut self, i: usize, lifetime_ms: i64, (sent, now): (Instant, Instant)) {
        let per_mille = self.rng.between(850, 950);
        let c = &mut self.conns[i];
        c.sasl.step = Step::Idle;
        c.sasl.scram = None;
        c.sasl.reauth_at = u64::try_from(lifetime_ms).ok().filter(|&ms| ms > 0).map(|ms| {
            let at = sent + core::time::Duration::from_millis(ms.saturating_mul(per_mille) / 1000);
            at.max(now + core::time::Duration::from_millis(ms / 2))
        });
        c.state = ConnState::Ready;
        if !core::mem::take(&mut c.sasl.reauth) {
            c.failures = 0;
            self.check_versions(i);
        }
    }

    /// Whether the OAUTHBEARER token for connection `i` is there: a static one, any handed-in
    /// one for a first authentication, a fresher one for a re-authentication.
    fn token_ready(&self, i: usize) -> bool {
        if self.config.sasl.token.is_some() {
            return true;
        }
        let c = &self.conns[i];
        let fresh = !c.sasl.reauth || self.auth.token_generation != c.sasl.token_generation;
        token_of(&self.config.sasl, &self.auth).is_some() && fresh
    }

    /// A fresh client nonce for connection `i`; `false` without entropy.
    fn new_nonce(&mut self, i: usize) -> bool {
        let Some(key) = self.auth.entropy else {
            return false;
        };
        self.auth.nonces = self.auth.nonces.wrapping_add(1);
        self.conns[i].sasl.nonce = scram::nonce(&key, self.auth.nonces);
        true
    }

    // ---- failures ----

    /// Called first when connection `i` is given up on: an authentication failure marks its
    /// broker and fails the batches only it can take.
    pub(super) fn on_auth_failure(&mut self, i: usize, error: &ConnError) {
        let ConnError::Authentication(e) = *error else {
            return;
        };
        self.conns[i].sasl.failed = Some(e);
        self.auth.any_failed = true;
        self.fail_unauthenticated();
        self.txn_auth_failed(self.conns[i].node, e.code());
    }

    /// Fails the queued batches of partitions led by a broker that refused authentication.
    pub(super) fn fail_unauthenticated(&mut self) {
        if !self.auth.any_failed {
            return;
        }
        for ci in 0..self.conns.len() {
            let Some(e) = self.conns[ci].sasl.failed else {
                continue;
            };
            let node = self.conns[ci].node;
            let reason = DeliveryError::Authentication { node, code: e.code() };
            for pi in 0..self.meta.partition_span() as u16 {
                if self.meta.leader(PartitionIdx(pi)) != Some(node) {
                    continue;
                }
                loop {
                    let pending = |s: &u16| {
                        self.acc.slot(*s).is_some_and(|b| b.send().outcome == Outcome::Pending && !b.send().in_flight)
                    };
                    let slots: heapless::Vec<u16, 64> = self.acc.iter_queue(pi).filter(pending).take(64).collect();
                    if slots.is_empty() {
                        break;
                    }
                    slots.iter().for_each(|&slot| self.complete(slot, Outcome::Failed(reason)));
                }
            }
        }
    }

    /// [`SendError::Authentication`] when every known broker refused authentication.
    pub(super) fn refused_everywhere(&self) -> Option<SendError> {
        if !self.auth.any_failed {
            return None;
        }
        let mut refusal = None;
        for b in self.meta.brokers() {
            let failed = self.conns.iter().find(|c| c.is_used() && c.node == b.node_id).and_then(|c| c.sasl.failed);
            let e = failed?;
            refusal.get_or_insert(SendError::Authentication { node: b.node_id, code: e.code() });
        }
        refusal
    }

    /// Re-authentication deadlines: a ready connection with nothing in flight starts at its
    /// time (a frame goes out then).
    pub(super) fn reauth_deadline(&self, c: &Connection) -> Option<Instant> {
        let t = c.sasl.reauth_at?;
        (c.state == ConnState::Ready && !c.want_close && c.in_flight.is_empty() && t > self.now).then_some(t)
    }
}

/// The OAUTHBEARER token: the configuration's static one, else the application's.
fn token_of<'t>(sasl: &SaslConfig<'static>, auth: &'t Auth) -> Option<Text<'t>> {
    if let Some(t) = sasl.token {
        return Some(t.expose());
    }
    #[cfg(feature = "alloc")]
    if let Some(t) = &auth.token {
        return Some(Text::new(t));
    }
    let _ = auth;
    None
}

/// A SCRAM failure with the broker's `e=` text.
fn scram_failure(text: &[u8]) -> impl FnOnce(scram::ScramError) -> ConnError + '_ {
    move |error| ConnError::Authentication(AuthError::Scram { error, message: Message::new(text) })
}

/// The bytes one SaslAuthenticate request carries.
#[derive(Debug, Clone, Copy)]
enum AuthMsg<'m> {
    Plain(Text<'static>, crate::sasl::Secret<'static>),
    ScramFirst(crate::sasl::ScramUser<'static>, &'m [u8]),
    Raw(&'m [u8]),
    OAuth(Text<'m>, SaslConfig<'static>),
}

impl AuthMsg<'_> {
    fn write(&self, out: &mut impl Sink) -> Result<(), EncodeError> {
        match self {
            Self::Plain(user, password) => crate::sasl::write_plain(*user, *password, out),
            Self::ScramFirst(user, nonce) => user.write_client_first(nonce, out),
            Self::Raw(bytes) => out.put(bytes),
            Self::OAuth(token, sasl) => oauthbearer::write_initial_response(*token, sasl.jaas.as_ref(), out),
        }
    }
}

/// A SaslAuthenticate request whose bytes are written straight from the configuration (no
/// copy, no length limit): sized with a [`Counter`] first.
struct AuthRequest<'m>(AuthMsg<'m>);

impl Encode for AuthRequest<'_> {
    fn write(&self, out: &mut impl Sink, cx: Ctx) -> Result<(), EncodeError> {
        let mut n = Counter::default();
        self.0.write(&mut n)?;
        let len = i32::try_from(n.0).map_err(|_| EncodeError::ValueTooLarge("bytes"))?;
        if cx.flexible {
            out.put_uvarint(u64::from(len.unsigned_abs()) + 1)?;
        } else {
            out.put_i32(len)?;
        }
        self.0.write(out)?;
        out.put_empty_tags(cx.flexible)
    }
}

impl Request for AuthRequest<'_> {
    const API_KEY: ApiKey = ApiKey::SaslAuthenticate;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::encode_request;
    use crate::protocol::sasl_authenticate::SaslAuthenticateRequest;
    use crate::sasl::{JaasConfig, Secret};
    use alloc::vec::Vec;

    /// The streamed request must be byte for byte the codec's (checked against the Java client
    /// in `tests/vectors/protocol`), at every version, classic and flexible.
    #[test]
    fn streamed_auth_request_matches_the_codec() {
        let jaas = JaasConfig::parse(r#"x.PlainLoginModule required username="al\"ice" password="p\\w";"#).unwrap();
        let sasl = SaslConfig { jaas: Some(jaas), ..SaslConfig::default() };
        let (user, password) = sasl.credentials().unwrap();
        let msgs = [
            (AuthMsg::Plain(user, password), &b"\0al\"ice\0p\\w"[..]),
            (AuthMsg::Raw(b"c=biws,r=abc,p=xyz"), b"c=biws,r=abc,p=xyz"),
            (
                AuthMsg::OAuth(Text::new("t.k."), SaslConfig { token: Some(Secret::new("t.k.")), ..sasl }),
                b"n,,\x01auth=Bearer t.k.\x01\x01",
            ),
        ];
        for (msg, bytes) in msgs {
            for v in 0..=2 {
                let (mut ours, mut theirs) = (Vec::new(), Vec::new());
                encode_request(&mut ours, v, 7, Some("kprod"), &AuthRequest(msg)).unwrap();
                encode_request(&mut theirs, v, 7, Some("kprod"), &SaslAuthenticateRequest { auth_bytes: bytes })
                    .unwrap();
                assert_eq!(ours, theirs, "v{v} {msg:?}");
            }
        }
    }
}
