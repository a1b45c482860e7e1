//! The SASL client's parsers of hostile text: the first byte picks `sasl.jaas.config` (parse,
//! every option, the unsecured token built from it) or a SCRAM exchange (the server-first
//! message, then the server-final message, for SHA-256 or SHA-512).
#![no_main]

use kprod_core::sasl::scram::{client_final, server_error, ScramHash, ScramUser};
use kprod_core::sasl::{oauthbearer, JaasConfig, Secret, Text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&select, rest)) = data.split_first() else { return };
    if select % 2 == 0 {
        let text = String::from_utf8_lossy(rest);
        if let Ok(jaas) = JaasConfig::parse(&text) {
            for (k, v) in jaas.options() {
                let mut buf = [0u8; 64];
                let _ = (k.len(), v.to_string(), v.copy_to(&mut buf), v.parse_u64());
            }
            let _ = oauthbearer::check_extensions(&jaas);
            let mut token = [0u8; 4096];
            if let Ok(n) = oauthbearer::unsecured_token(&jaas, 1_700_000_000_000, &mut token) {
                assert!(n <= token.len());
            }
            let _ = format!("{jaas:?}");
        }
        return;
    }
    // SCRAM: the server messages are split at the first 0 byte.
    let hash = if select & 2 == 0 { ScramHash::Sha256 } else { ScramHash::Sha512 };
    let mut parts = rest.splitn(2, |&b| b == 0);
    let (first, last) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    let user = ScramUser { username: Text::new("user"), password: Secret::new("pencil"), tokenauth: select & 4 != 0 };
    if let Ok(fin) = client_final(hash, &user, b"rOprNGfwEbeRWgbNEkqO", first) {
        assert!(fin.message().starts_with(b"c=biws,r=rOprNGfwEbeRWgbNEkqO"));
        let _ = fin.verify_server_final(last);
        let _ = server_error(last);
    }
});
