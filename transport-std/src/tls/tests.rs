//! [`TlsLink`] against an in-process rustls server over an in-memory socket that answers
//! `WouldBlock` when empty and takes 61 bytes per write: the handshake, frames both ways larger
//! than rustls's plaintext buffer, and the server's close.

use std::io::{self, Read, Write};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection};

use super::*;
use crate::security::tests::cert;
use crate::security::SslSettings;

/// Both directions of an in-memory connection.
#[derive(Default)]
struct Pipe {
    to_server: Vec<u8>,
    to_client: Vec<u8>,
}

/// The client's end: reads what the server wrote (`WouldBlock` when there is nothing), writes
/// at most 61 bytes per call.
struct ClientEnd<'a>(&'a mut Pipe);

impl Read for ClientEnd<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.0.to_client.is_empty() {
            return Err(ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.0.to_client.len());
        buf[..n].copy_from_slice(&self.0.to_client[..n]);
        self.0.to_client.drain(..n);
        Ok(n)
    }
}

impl Write for ClientEnd<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(61);
        self.0.to_server.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The server takes what the client wrote (its plaintext goes to `got`), and writes what it has.
fn pump(server: &mut ServerConnection, pipe: &mut Pipe, got: &mut Vec<u8>) {
    let mut rd = &pipe.to_server[..];
    while !rd.is_empty() {
        server.read_tls(&mut rd).expect("read_tls");
        server.process_new_packets().expect("server accepts");
        match server.reader().read_to_end(got) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => panic!("server read: {e}"),
        }
    }
    pipe.to_server.clear();
    while server.wants_write() {
        server.write_tls(&mut pipe.to_client).expect("write_tls");
    }
}

fn server() -> ServerConnection {
    let chain = CertificateDer::pem_file_iter(cert("broker.pem")).expect("pem").collect::<Result<Vec<_>, _>>();
    let key = PrivateKeyDer::from_pem_file(cert("broker.key")).expect("key");
    let config = ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(chain.expect("chain"), key)
        .expect("server config");
    let mut server = ServerConnection::new(Arc::new(config)).expect("server");
    server.set_buffer_limit(None);
    server
}

#[test]
fn handshake_then_frames_both_ways_through_a_slow_socket() {
    let ssl = SslSettings {
        truststore: crate::security::Store { location: Some(cert("ca.pem").into()), ..Default::default() },
        ..Default::default()
    };
    let config = client_config(&ssl).expect("client config");
    let mut client = TlsLink::new(&config, "localhost").expect("client");
    let mut server = server();
    let mut pipe = Pipe::default();
    let mut got = Vec::new();
    let mut rounds = 0;
    while !client.handshake(&mut ClientEnd(&mut pipe)).expect("handshake") {
        pump(&mut server, &mut pipe, &mut got);
        rounds += 1;
        assert!(rounds < 10_000, "the handshake must finish");
    }
    pump(&mut server, &mut pipe, &mut got);

    // A request larger than rustls's plaintext buffer, written 61 bytes at a time.
    let request: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let mut out = Outbox::default();
    out.queue(&request);
    while out.unsent() > 0 || client.wants_write() {
        client.write(&mut ClientEnd(&mut pipe), &mut out).expect("write");
        pump(&mut server, &mut pipe, &mut got);
    }
    assert_eq!(got, request);

    // A response, read until the socket would block.
    let response = vec![0x5a; 100_000];
    server.writer().write_all(&response).expect("server write");
    pump(&mut server, &mut pipe, &mut got);
    let mut rx = Vec::new();
    loop {
        match client.read(&mut ClientEnd(&mut pipe), &mut rx) {
            Ok(n) => assert!(n > 0, "no close yet"),
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) => panic!("read: {e}"),
        }
    }
    assert_eq!(rx, response);

    // The server closes: the client reads the end of the stream.
    server.send_close_notify();
    pump(&mut server, &mut pipe, &mut got);
    assert_eq!(client.read(&mut ClientEnd(&mut pipe), &mut rx).expect("close"), 0);
}

#[test]
fn rustls_errors_become_errors_that_name_the_setting() {
    use rustls::Error as E;
    let cases = [
        (E::InvalidCertificate(CertificateError::UnknownIssuer), TlsError::UnknownIssuer, "ssl.truststore.location"),
        (
            E::InvalidCertificate(CertificateError::NotValidForName),
            TlsError::WrongHost { host: "h".into() },
            "ssl.endpoint.identification.algorithm",
        ),
        (E::InvalidCertificate(CertificateError::Expired), TlsError::Expired, "expired"),
        (
            E::AlertReceived(AlertDescription::CertificateRequired),
            TlsError::ClientCertificateRejected { sent: false, alert: "CertificateRequired".into() },
            "ssl.keystore.location",
        ),
    ];
    for (error, expected, setting) in cases {
        let ours = TlsError::from_rustls(&error, "h", false);
        assert_eq!(ours, expected);
        assert!(ours.to_string().contains(setting), "{ours}");
        let io = ours.clone().into_io();
        assert_eq!(TlsError::from_io(&io), Some(&ours));
    }
    assert!(TlsError::from_io(&io::Error::other("plain")).is_none());
}
