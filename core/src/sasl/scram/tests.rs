//! SCRAM against vectors from elsewhere: RFC 7677's SCRAM-SHA-256 example, and a SCRAM-SHA-512
//! exchange computed with Python's `hashlib`/`hmac` (user `al=ice,x`, to check saslname
//! escaping, and a non-ASCII password, which Kafka hashes as raw UTF-8).

use super::*;
use crate::sasl::Secret;
use crate::wire::SliceSink;

fn user<'a>(name: &'a str, password: &'a str) -> ScramUser<'a> {
    ScramUser { username: Text::new(name), password: Secret::new(password), tokenauth: false }
}

#[test]
fn rfc7677_sha256_example() {
    let u = user("user", "pencil");
    let nonce = b"rOprNGfwEbeRWgbNEkqO";
    let mut buf = [0u8; 64];
    let mut sink = SliceSink::new(&mut buf);
    u.write_client_first(nonce, &mut sink).unwrap();
    assert_eq!(sink.written(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
    let server_first = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    let fin = client_final(ScramHash::Sha256, &u, nonce, server_first).unwrap();
    assert_eq!(
        fin.message(),
        b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    );
    assert_eq!(fin.verify_server_final(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="), Ok(()));
    assert_eq!(
        fin.verify_server_final(b"v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),
        Err(ScramError::ServerSignature)
    );
    assert_eq!(fin.verify_server_final(b"e=invalid-proof"), Err(ScramError::ServerError));
    assert_eq!(server_error(b"e=invalid-proof"), Some(&b"invalid-proof"[..]));
    assert_eq!(fin.verify_server_final(b"x"), Err(ScramError::Malformed));
    assert!(!alloc::format!("{fin:?}").contains("dHzb"));
}

#[test]
fn sha512_with_escaped_name_matches_python() {
    let u = user("al=ice,x", "pässwörd");
    let nonce = b"QSXCR+Q6sek8bf92";
    let mut buf = [0u8; 64];
    let mut sink = SliceSink::new(&mut buf);
    u.write_client_first(nonce, &mut sink).unwrap();
    assert_eq!(sink.written(), b"n,,n=al=3Dice=2Cx,r=QSXCR+Q6sek8bf92");
    let server_first = b"r=QSXCR+Q6sek8bf923D3kE9Q5XtGJ7kfd,s=c2FsdC1ieXRlcy0wMTIz,i=4096";
    let fin = client_final(ScramHash::Sha512, &u, nonce, server_first).unwrap();
    assert_eq!(fin.message(), &b"c=biws,r=QSXCR+Q6sek8bf923D3kE9Q5XtGJ7kfd,p=qkszs+C+Ug6rCXfTcWLkA2Os8TVBhyV5ZMqwHECuuXhOb/sCcCztbtP6AhyoYHghQlJiQvpMAyb03HSXSPS5tg=="[..]);
    let v = b"v=Ml5I2Ezp/JKcz+7ah6jTjlVMM1GoHWAsDBM4Pu+HikcgG5cdVD0fT5a/LQiEICCAiliMH3RM467m2PIg6LgDMg==";
    assert_eq!(fin.verify_server_final(v), Ok(()));
}

#[test]
fn hostile_server_first_is_refused() {
    let u = user("u", "p");
    let n = b"abc";
    let refuse = |sf: &[u8]| client_final(ScramHash::Sha256, &u, n, sf).unwrap_err();
    assert_eq!(refuse(b"r=xyz1,s=c2FsdA==,i=4096"), ScramError::Nonce);
    assert_eq!(refuse(b"r=abc,s=c2FsdA==,i=4096"), ScramError::Nonce);
    assert_eq!(refuse(b"r=abc1,s=c2FsdA==,i=4095"), ScramError::Iterations);
    assert_eq!(refuse(b"r=abc1,s=c2FsdA==,i=16385"), ScramError::Iterations);
    assert_eq!(refuse(b"r=abc1,s=c2FsdA==,i=99999999999999"), ScramError::Iterations);
    assert_eq!(refuse(b"r=abc1,s=!!,i=4096"), ScramError::Salt);
    assert_eq!(refuse(b"m=ext,r=abc1,s=c2FsdA==,i=4096"), ScramError::MandatoryExtension);
    assert_eq!(refuse(b"s=c2FsdA==,r=abc1,i=4096"), ScramError::Malformed);
    assert_eq!(refuse(b""), ScramError::Malformed);
    let long = [b"r=abc".as_slice(), &[b'x'; MAX_NONCE], b",s=c2FsdA==,i=4096"].concat();
    assert_eq!(refuse(&long), ScramError::Nonce);
}

#[test]
fn tokenauth_extension_and_nonces() {
    let u = ScramUser { tokenauth: true, ..user("t", "h") };
    let mut buf = [0u8; 64];
    let mut sink = SliceSink::new(&mut buf);
    u.write_client_first(b"n1", &mut sink).unwrap();
    assert_eq!(sink.written(), b"n,,n=t,r=n1,tokenauth=true");
    let key = [7u8; 32];
    let (a, b) = (nonce(&key, 1), nonce(&key, 2));
    assert_ne!(a, b);
    assert_ne!(nonce(&[8u8; 32], 1), a);
    assert!(a.iter().all(|&c| c.is_ascii_graphic() && c != b','));
}
