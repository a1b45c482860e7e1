//! Shared by the protocol tests: the Java vectors of `tests/vectors/protocol/vectors.txt`, typed
//! access to their fields, and flattening our messages into the same `field=value` form.
#![allow(dead_code)]

pub(crate) mod requests;
pub(crate) mod responses;

use alloc::collections::BTreeMap;
use core::fmt::{Debug, Display};
use core::str::FromStr;

use kprod_core::protocol::{Array, ErrorCode, Node};

pub(crate) const VECTORS: &str = include_str!("../../../tests/vectors/protocol/vectors.txt");

pub(crate) type Map = BTreeMap<String, String>;

pub(crate) struct Case {
    pub(crate) what: String,
    pub(crate) version: i16,
    pub(crate) fields: Map,
    pub(crate) body: Vec<u8>,
}

pub(crate) fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0, "odd hex {s}");
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The `case` blocks of the file, and the other lines split into words.
pub(crate) fn parse() -> (Vec<Case>, Vec<Vec<&'static str>>) {
    let (mut cases, mut lines) = (Vec::new(), Vec::new());
    let mut current: Option<Case> = None;
    for line in VECTORS.lines().filter(|l| !l.starts_with('#')) {
        if let Some(head) = line.strip_prefix("case ") {
            let words: Vec<&str> = head.split(' ').collect();
            let what =
                format!("{} {}{}", words[0], words[1], words.get(3).map(|l| format!(" {l}")).unwrap_or_default());
            current = Some(Case { what, version: words[2].parse().unwrap(), fields: Map::new(), body: vec![] });
        } else if line == "end" {
            cases.push(current.take().expect("end without case"));
        } else if let Some(case) = current.as_mut() {
            let (k, v) = line.split_once('=').expect("key=value");
            if k == "body" {
                case.body = unhex(v);
            } else {
                case.fields.insert(k.to_owned(), v.to_owned());
            }
        } else {
            lines.push(line.split(' ').collect());
        }
    }
    assert!(cases.len() > 100, "only {} cases", cases.len());
    (cases, lines)
}

/// Typed access to a case's fields.
pub(crate) struct Fields<'a>(pub(crate) &'a Map);

impl<'a> Fields<'a> {
    pub(crate) fn s(&self, k: &str) -> &'a str {
        self.0.get(k).unwrap_or_else(|| panic!("no field {k}"))
    }
    pub(crate) fn opt(&self, k: &str) -> Option<&'a str> {
        Some(self.s(k)).filter(|v| *v != "null")
    }
    pub(crate) fn num<T: FromStr>(&self, k: &str) -> T
    where
        T::Err: Debug,
    {
        self.s(k).parse().unwrap()
    }
    pub(crate) fn len(&self, k: &str) -> usize {
        self.num(&format!("{k}.len"))
    }
    pub(crate) fn uuid(&self, k: &str) -> [u8; 16] {
        unhex(self.s(k)).try_into().unwrap()
    }
}

/// Fields flattened as Gen.java writes them.
#[derive(Default)]
pub(crate) struct Flat(pub(crate) Map);

impl Flat {
    pub(crate) fn put(&mut self, k: &str, v: impl Display) {
        self.0.insert(k.to_owned(), v.to_string());
    }
    pub(crate) fn opt(&mut self, k: &str, v: Option<&str>) {
        self.put(k, v.unwrap_or("null"));
    }
    pub(crate) fn err(&mut self, k: &str, e: ErrorCode) {
        self.put(k, e.code());
    }
    pub(crate) fn list<T>(
        &mut self,
        k: &str,
        items: impl IntoIterator<Item = T>,
        mut f: impl FnMut(&mut Self, &str, T),
    ) {
        let mut n = 0;
        for (i, item) in items.into_iter().enumerate() {
            f(self, &format!("{k}.{i}."), item);
            n += 1;
        }
        self.put(&format!("{k}.len"), n);
    }
    pub(crate) fn ints(&mut self, k: &str, items: Array<'_, i32>) {
        self.list(k, items, |f, p, v| f.put(p.trim_end_matches('.'), v));
    }
    pub(crate) fn node(&mut self, p: &str, n: Node<'_>) {
        self.put(&format!("{p}node_id"), n.node_id);
        self.put(&format!("{p}host"), n.host);
        self.put(&format!("{p}port"), n.port);
        self.opt(&format!("{p}rack"), n.rack);
    }
}
