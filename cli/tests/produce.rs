//! `kprod produce` against the real broker: what it wrote is read back by the independent
//! verifier (kafka-python) and compared field by field with what the input lines say.

mod util;

use std::time::Instant;

use kprod_tests::{unique_topic, Broker};
use regex::Regex;
use util::{describe, kprod, now_ms, read_all, stderr_lines, unreachable_bootstrap, Read, TempFile, QUICK};

/// The summary line's numbers: (records, bytes, errors, lines).
fn summary(out: &std::process::Output) -> (u64, u64, u64, u64) {
    let re = Regex::new(r"^kprod: (\d+) records produced \((\d+) bytes\), (\d+) errors, (\d+) lines read$").unwrap();
    let lines = stderr_lines(out);
    let line = lines.iter().find(|l| re.is_match(l)).unwrap_or_else(|| panic!("no summary: {}", describe(out)));
    let c = re.captures(line).unwrap();
    let n = |i: usize| c[i].parse::<u64>().unwrap();
    (n(1), n(2), n(3), n(4))
}

fn owned(v: &[u8]) -> Vec<u8> {
    v.to_vec()
}

/// Checks one partition's records against the expected (key, value) pairs, in order.
fn check_partition(
    read: &[Read],
    partition: i32,
    expected: &[(Option<Vec<u8>>, Vec<u8>)],
    headers: &[(String, Option<Vec<u8>>)],
    window: (i64, i64),
) {
    let got: Vec<&Read> = read.iter().filter(|r| r.partition == partition).collect();
    assert_eq!(got.len(), expected.len(), "records in partition {partition}");
    for (i, (r, (key, value))) in got.iter().zip(expected).enumerate() {
        assert_eq!(r.offset, i as i64, "offset of record {i} in partition {partition}");
        assert_eq!(r.key.as_ref(), key.as_ref(), "key of record {i} in partition {partition}");
        assert_eq!(r.value.as_ref(), Some(value), "value of record {i} in partition {partition}");
        assert_eq!(r.headers, headers, "headers of record {i}");
        assert_eq!(r.timestamp_type, 0, "CreateTime");
        assert!(r.timestamp >= window.0 && r.timestamp <= window.1, "timestamp {} outside {window:?}", r.timestamp);
    }
}

#[test]
fn a_file_with_config_key_delimiter_headers_and_partition() {
    let broker = Broker::shared();
    let topic = unique_topic("cli-file");
    broker.create_topic(&topic, 3, 1);
    let config = TempFile::new(
        "file.properties",
        format!("bootstrap.servers={}\nlinger.ms=20\n", broker.bootstrap()).as_bytes(),
    );
    // Input lines and what each must become. A line without the delimiter has a null key; an
    // empty line is an empty value; CRLF loses its '\r'; bytes need not be UTF-8.
    let input: &[u8] = b"k1|v1\nno delimiter here\n\n|value with empty key\nkey only|\nk2|v|with|bars\ncrlf|line\r\n\xff\x00k|\x80v\ncaf\xc3\xa9|\xe2\x9c\x93\nlast|one";
    let expected: Vec<(Option<Vec<u8>>, Vec<u8>)> = vec![
        (Some(owned(b"k1")), owned(b"v1")),
        (None, owned(b"no delimiter here")),
        (None, owned(b"")),
        (Some(owned(b"")), owned(b"value with empty key")),
        (Some(owned(b"key only")), owned(b"")),
        (Some(owned(b"k2")), owned(b"v|with|bars")),
        (Some(owned(b"crlf")), owned(b"line")),
        (Some(owned(b"\xff\x00k")), owned(b"\x80v")),
        (Some(owned("café".as_bytes())), owned("✓".as_bytes())),
        (Some(owned(b"last")), owned(b"one")),
    ];
    let data = TempFile::new("file.txt", input);
    let before = now_ms();
    let out = kprod(
        &[
            "produce",
            "--config",
            config.path(),
            "-t",
            &topic,
            "-p",
            "2",
            "-K",
            "|",
            "-H",
            "trace=abc",
            "-H",
            "empty=",
            "-H",
            "eq=a=b",
            "--acks",
            "all",
            "-z",
            "gzip",
            data.path(),
        ],
        b"",
    );
    let after = now_ms();
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(stderr_lines(&out).len(), 1, "only the summary: {}", describe(&out));
    let bytes: usize = expected.iter().map(|(k, v)| k.as_ref().map_or(0, Vec::len) + v.len()).sum();
    assert_eq!(summary(&out), (10, bytes as u64, 0, 10));
    assert!(out.stdout.is_empty(), "{}", describe(&out));

    let read = read_all(broker, &topic, expected.len());
    assert_eq!(read.len(), expected.len(), "exactly the lines, no more");
    let headers = vec![
        ("trace".to_owned(), Some(owned(b"abc"))),
        ("empty".to_owned(), Some(vec![])),
        ("eq".to_owned(), Some(owned(b"a=b"))),
    ];
    check_partition(&read, 2, &expected, &headers, (before, after));
}

#[test]
fn stdin_with_every_codec_and_acks() {
    let broker = Broker::shared();
    let topic = unique_topic("cli-codecs");
    let codecs = ["none", "gzip", "snappy", "lz4", "zstd"];
    let acks = ["all", "1", "0", "all", "1"];
    broker.create_topic(&topic, codecs.len() as i32, 1);
    let before = now_ms();
    let mut all = Vec::new();
    for (p, (codec, acks)) in codecs.iter().zip(acks).enumerate() {
        let mut input = Vec::new();
        let mut expected = Vec::new();
        for j in 0..200 {
            let (key, value) = (format!("key-{j}"), format!("{codec} value {j} {}", "x".repeat(j % 50)));
            input.extend_from_slice(format!("{key}\t{value}\n").as_bytes());
            expected.push((Some(key.into_bytes()), value.into_bytes()));
        }
        input.extend_from_slice(b"tail without a tab\n");
        expected.push((None, owned(b"tail without a tab")));
        let partition = p.to_string();
        let out = kprod(
            &[
                "produce",
                "-b",
                broker.bootstrap(),
                "-t",
                &topic,
                "-p",
                &partition,
                "-K",
                "\t",
                "-z",
                codec,
                "--acks",
                acks,
            ],
            &input,
        );
        assert!(out.status.success(), "{codec}: {}", describe(&out));
        let bytes: usize = expected.iter().map(|(k, v)| k.as_ref().map_or(0, Vec::len) + v.len()).sum();
        assert_eq!(summary(&out), (201, bytes as u64, 0, 201), "{codec}");
        all.push(expected);
    }
    let after = now_ms();
    let read = read_all(broker, &topic, all.iter().map(Vec::len).sum());
    assert_eq!(read.len(), all.iter().map(Vec::len).sum::<usize>(), "exactly the lines, no more");
    for (p, expected) in all.iter().enumerate() {
        check_partition(&read, p as i32, expected, &[], (before, after));
    }
}

#[test]
fn lines_too_large_fail_alone_with_an_accurate_summary() {
    let broker = Broker::shared();
    let topic = unique_topic("cli-large");
    broker.create_topic(&topic, 1, 1);
    // max.request.size is 1 MiB (default). The second line fits; the third is under 1 MiB but
    // too large once framed as a record; the fourth is over 1 MiB (never held whole).
    let near = vec![b'a'; 1_047_000];
    let framed_over = vec![b'b'; 1_048_000];
    let over = vec![b'c'; 1_048_576 + 10];
    let mut input = b"small-1\n".to_vec();
    for line in [&near, &framed_over, &over] {
        input.extend_from_slice(line);
        input.push(b'\n');
    }
    input.extend_from_slice(b"small-2\n");
    let data = TempFile::new("large.txt", &input);
    let out = kprod(&["produce", "-b", broker.bootstrap(), "-t", &topic, data.path()], b"");
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let lines = stderr_lines(&out);
    assert_eq!(lines.len(), 2, "a summary and one error line: {}", describe(&out));
    assert_eq!(summary(&out), (3, (7 + near.len() + 7) as u64, 2, 5));
    let error = &lines[1];
    assert!(error.starts_with(&format!("kprod: error: {}:3: record refused: ", data.path())), "{error}");
    assert!(error.contains("max.request.size"), "{error}");
    assert!(error.ends_with("(and 1 more errors)"), "{error}");

    let read = read_all(broker, &topic, 3);
    let values: Vec<Option<Vec<u8>>> = read.iter().map(|r| r.value.clone()).collect();
    assert_eq!(values, vec![Some(owned(b"small-1")), Some(near), Some(owned(b"small-2"))]);
    assert!(read.iter().all(|r| r.key.is_none() && r.headers.is_empty()));
}

#[test]
fn configuration_errors_are_one_line_and_usage_errors_exit_2() {
    let out = kprod(&["produce", "-b", "127.0.0.1:9", "-t", "t", "-X", "no.such.property=1"], b"x\n");
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert_eq!(
        stderr_lines(&out),
        ["kprod: error: -X no.such.property=1: unrecognized producer config: \"no.such.property\""],
        "{}",
        describe(&out)
    );
    let out = kprod(&["produce", "-b", "127.0.0.1:9", "-t", "t", "-X", "acks=2"], b"x\n");
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let lines = stderr_lines(&out);
    assert_eq!(lines.len(), 1, "{}", describe(&out));
    assert!(lines[0].starts_with("kprod: error: -X acks=2: ") && lines[0].contains("acks"), "{}", lines[0]);
    let out = kprod(&["produce", "-t", "t"], b"x\n");
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(stderr_lines(&out)[0].contains("bootstrap"), "{}", describe(&out));
    let out = kprod(&["produce", "-t", "t", "--config", "/nonexistent/kprod.properties"], b"");
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(stderr_lines(&out)[0].starts_with("kprod: error: cannot read /nonexistent/kprod.properties: "));

    for usage in [
        &["produce", "-b", "h:1", "-t", "t", "-X", "no-equals-sign"][..],
        &["produce", "-b", "h:1"],
        &["produce", "-b", "h:1", "-t", "t", "-z", "brotli"],
        &["produce", "-b", "h:1", "-t", "t", "--acks", "2"],
        &["produce", "-b", "h:1", "-t", "t", "-K", ""],
        &["produce", "-b", "h:1", "-t", "t", "-p", "-2"],
    ] {
        let out = kprod(usage, b"");
        assert_eq!(out.status.code(), Some(2), "{usage:?}: {}", describe(&out));
    }
}

#[test]
fn an_unreachable_cluster_fails_cleanly_after_max_block_ms() {
    let bootstrap = unreachable_bootstrap();
    let start = Instant::now();
    let out = kprod(&["produce", "-b", &bootstrap, "-t", "nowhere", "-X", "max.block.ms=1000"], b"one\ntwo\n");
    assert!(start.elapsed() < QUICK, "took {:?}", start.elapsed());
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let lines = stderr_lines(&out);
    // The refused connection (as it happened), the summary, the error.
    assert_eq!(lines.len(), 3, "{}", describe(&out));
    assert_eq!(lines[0], format!("kprod: connection refused by {bootstrap}"), "{}", describe(&out));
    // The first line's record was not produced, and reading stopped there.
    assert_eq!(summary(&out), (0, 0, 1, 1));
    // kprod-std names the time it waited (max.block.ms, give or take scheduling) and why.
    let re = Regex::new(r"^kprod: error: stdin:1: topic nowhere not present in metadata after (\d+) ms; last error: connection refused by ").unwrap();
    let waited: u64 = re.captures(&lines[2]).unwrap_or_else(|| panic!("{}", lines[2]))[1].parse().unwrap();
    assert!((1000..5000).contains(&waited), "{}", lines[2]);
}

#[test]
fn empty_input_produces_nothing_and_succeeds() {
    let broker = Broker::shared();
    let out = kprod(&["produce", "-b", broker.bootstrap(), "-t", "never-created"], b"");
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(summary(&out), (0, 0, 0, 0));
    let out = kprod(&["produce", "-q", "-b", broker.bootstrap(), "-t", "never-created"], b"");
    assert!(out.status.success() && out.stderr.is_empty(), "{}", describe(&out));
}
