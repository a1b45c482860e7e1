//! Reading input lines with a bounded buffer: a line longer than any record can be is counted
//! and skipped, never held in memory whole.

use std::io::{self, BufRead, ErrorKind};

/// One line read by [`LineReader::next_line`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Line {
    /// The line is in the buffer (without its `\n`, or `\r\n`).
    Complete,
    /// The line had `len` bytes (without its ending), more than the limit; the buffer holds
    /// only its first `limit` bytes.
    TooLong {
        /// The line's length.
        len: u64,
    },
}

/// Splits a byte stream into `\n`-terminated lines. A final line without `\n` counts; a `\r`
/// right before the `\n` is dropped (CRLF files). Bytes need not be UTF-8.
#[derive(Debug)]
pub(crate) struct LineReader<R> {
    inner: R,
    limit: usize,
}

impl<R: BufRead> LineReader<R> {
    /// Reads from `inner`, keeping at most `limit` bytes of a line.
    pub(crate) const fn new(inner: R, limit: usize) -> Self {
        Self { inner, limit }
    }

    /// Reads the next line into `buf` (cleared first); `None` at the end of the input.
    pub(crate) fn next_line(&mut self, buf: &mut Vec<u8>) -> io::Result<Option<Line>> {
        buf.clear();
        let mut len: u64 = 0;
        let mut any = false;
        // Whether the last byte kept or skipped was '\r' (dropped if '\n' follows).
        let mut last_cr = false;
        loop {
            let available = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                if !any {
                    return Ok(None);
                }
                break;
            }
            any = true;
            let (chunk, ends) = match available.iter().position(|&b| b == b'\n') {
                Some(i) => (&available[..i], true),
                None => (available, false),
            };
            if let Some(&b) = chunk.last() {
                last_cr = b == b'\r';
            }
            let room = self.limit.saturating_add(1).saturating_sub(buf.len());
            buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
            len += chunk.len() as u64;
            let used = chunk.len() + usize::from(ends);
            self.inner.consume(used);
            if ends {
                if last_cr {
                    len -= 1;
                    if buf.len() as u64 > len {
                        buf.pop();
                    }
                }
                break;
            }
        }
        if len > self.limit as u64 {
            buf.truncate(self.limit);
            return Ok(Some(Line::TooLong { len }));
        }
        Ok(Some(Line::Complete))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    fn lines(input: &[u8], limit: usize, capacity: usize) -> Vec<(Line, Vec<u8>)> {
        let mut reader = LineReader::new(BufReader::with_capacity(capacity, input), limit);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        while let Some(line) = reader.next_line(&mut buf).unwrap() {
            out.push((line, buf.clone()));
        }
        out
    }

    #[test]
    fn lines_empty_lines_crlf_and_a_last_line_without_newline() {
        for capacity in [1, 2, 3, 64] {
            let got = lines(b"a\n\nb\r\n\r\nlast", 100, capacity);
            let want: Vec<(Line, Vec<u8>)> =
                [&b"a"[..], b"", b"b", b"", b"last"].iter().map(|l| (Line::Complete, l.to_vec())).collect();
            assert_eq!(got, want, "capacity {capacity}");
        }
        assert!(lines(b"", 10, 4).is_empty());
        assert_eq!(lines(b"\n", 10, 4), vec![(Line::Complete, vec![])]);
        assert_eq!(lines(b"x\ry\n", 10, 1), vec![(Line::Complete, b"x\ry".to_vec())]);
    }

    #[test]
    fn long_lines_are_measured_and_skipped() {
        for capacity in [1, 3, 8, 1024] {
            let got = lines(b"12345\n123456\n1234567\r\nok", 6, capacity);
            assert_eq!(
                got,
                vec![
                    (Line::Complete, b"12345".to_vec()),
                    (Line::Complete, b"123456".to_vec()),
                    (Line::TooLong { len: 7 }, b"123456".to_vec()),
                    (Line::Complete, b"ok".to_vec()),
                ],
                "capacity {capacity}"
            );
        }
        // A line of exactly the limit plus its '\r' fits.
        assert_eq!(lines(b"123456\r\n", 6, 2), vec![(Line::Complete, b"123456".to_vec())]);
    }
}
