//! embedded-tls against Kafka, on the host: the TLS client `examples/tls-size-probe` measures,
//! over a std `TcpStream`, against a listener of the secured broker (`kafka.sh secure-up`).
//! It opens TLS 1.3 (TLS_AES_128_GCM_SHA256), checks the broker's chain against CA_DER and its
//! name against NAME, then sends ApiVersions v0 and reads the answer.
//!
//! ```sh
//! openssl x509 -in target/kafka/secure/certs/ca.pem -outform der -out /tmp/ca.der
//! cargo run --manifest-path examples/tls-host-check/Cargo.toml -- \
//!     127.0.0.1:29593 /tmp/ca.der 127.0.0.1 [READ_BUFFER WRITE_BUFFER]
//! ```
//!
//! Exit 0 and one line with the ApiVersions answer, or exit 1 with embedded-tls's error.

use std::net::TcpStream;
use std::process::ExitCode;

use embedded_io::{Read, Write};
use embedded_io_adapters::std::FromStd;
use embedded_tls::blocking::{
    Aes128GcmSha256, Certificate, CryptoProvider, NoClock, TlsConfig, TlsConnection, TlsContext, TlsError, TlsVerifier,
};
use embedded_tls::pki::CertVerifier;
use rand::SeedableRng;

/// The OS's randomness and a verifier of the broker's chain against one CA (4 KiB for the
/// broker's certificate).
struct Provider {
    rng: rand::rngs::StdRng,
    verifier: CertVerifier<'static, Aes128GcmSha256, NoClock, 4096>,
}

impl CryptoProvider for Provider {
    type CipherSuite = Aes128GcmSha256;
    type Signature = &'static [u8];

    fn rng(&mut self) -> impl rand_core::CryptoRngCore {
        &mut self.rng
    }

    fn verifier(&mut self) -> Result<&mut impl TlsVerifier<Aes128GcmSha256>, TlsError> {
        Ok(&mut self.verifier)
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<String, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, ca, name, rest @ ..] = args.as_slice() else {
        return Err("usage: kprod-tls-host-check HOST:PORT CA_DER NAME [READ_BUFFER WRITE_BUFFER]".into());
    };
    let size = |i: usize| rest.get(i).map_or(Ok(16_640), |s| s.parse::<usize>().map_err(|e| format!("{s}: {e}")));
    let (mut read_buf, mut write_buf) = (vec![0u8; size(0)?], vec![0u8; size(1)?]);
    // The verifier and the config borrow them for 'static; the program ends right after.
    let ca: &'static [u8] = std::fs::read(ca).map_err(|e| format!("{ca}: {e}"))?.leak();
    let name: &'static str = name.clone().leak();

    let tcp = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    let mut conn: TlsConnection<'_, _, Aes128GcmSha256> =
        TlsConnection::new(FromStd::new(tcp), &mut read_buf, &mut write_buf);
    let config = TlsConfig::new().with_server_name(name);
    let provider =
        Provider { rng: rand::rngs::StdRng::from_entropy(), verifier: CertVerifier::new(Certificate::X509(ca)) };
    conn.open(TlsContext::new(&config, provider)).map_err(|e| format!("handshake: {e:?}"))?;

    // ApiVersions v0: api_key 18, version 0, correlation id 7, client id "p".
    let body = [0u8, 18, 0, 0, 0, 0, 0, 7, 0, 1, b'p'];
    let mut request = (body.len() as u32).to_be_bytes().to_vec();
    request.extend_from_slice(&body);
    conn.write_all(&request).map_err(|e| format!("write: {e:?}"))?;
    conn.flush().map_err(|e| format!("flush: {e:?}"))?;
    let mut len = [0u8; 4];
    conn.read_exact(&mut len).map_err(|e| format!("read: {e:?}"))?;
    let mut response = vec![0u8; u32::from_be_bytes(len) as usize];
    conn.read_exact(&mut response).map_err(|e| format!("read: {e:?}"))?;
    if response.len() < 10 {
        return Err(format!("a {}-byte ApiVersions response", response.len()));
    }
    let int = |at: usize| i32::from_be_bytes([response[at], response[at + 1], response[at + 2], response[at + 3]]);
    let error = i16::from_be_bytes([response[4], response[5]]);
    Ok(format!(
        "TLS 1.3 to {addr} as {name}: ApiVersions answered, {} bytes, correlation id {}, error {error}, {} APIs",
        response.len(),
        int(0),
        int(6)
    ))
}
