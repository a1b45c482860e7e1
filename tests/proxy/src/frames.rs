//! Where Kafka frames start in a byte stream (each is a 4-byte big-endian length, then that many
//! bytes), so the proxy can cut a connection in the middle of one or flip a byte inside one.

/// Follows the frame boundaries of one direction of a connection, chunk by chunk.
#[derive(Debug, Default)]
pub(crate) struct FrameCutter {
    /// Bytes of the current length prefix seen so far (up to 4).
    header: [u8; 4],
    header_len: usize,
    /// Bytes of the current frame's body still to come.
    body_left: u64,
    /// Set once a cut is decided: the bytes still to forward before the cut.
    cut_in: Option<u64>,
    /// Set when the current frame is to be corrupted: the body bytes before the one to flip.
    corrupt_in: Option<u64>,
}

impl FrameCutter {
    /// Scans `chunk`, the next bytes of the stream. At each frame whose length prefix completes
    /// in it, `cut()` says whether to cut that frame; a cut frame is forwarded up to its prefix
    /// and half its body. Else `corrupt()` says whether to flip (xor 0xff) the byte at three
    /// quarters of its body, in `chunk`. Returns `Some(n)` when the connection must be cut after
    /// forwarding `chunk[..n]`, `None` when all of `chunk` passes.
    pub(crate) fn scan(
        &mut self,
        chunk: &mut [u8],
        cut: &mut dyn FnMut() -> bool,
        corrupt: &mut dyn FnMut() -> bool,
    ) -> Option<usize> {
        let mut pos = 0;
        while pos < chunk.len() {
            if let Some(left) = self.cut_in {
                let room = (chunk.len() - pos) as u64;
                return if left <= room {
                    Some(pos + left as usize)
                } else {
                    self.cut_in = Some(left - room);
                    None
                };
            }
            if self.body_left > 0 {
                let take = self.body_left.min((chunk.len() - pos) as u64);
                if let Some(k) = self.corrupt_in {
                    if k < take {
                        chunk[pos + k as usize] ^= 0xff;
                        self.corrupt_in = None;
                    } else {
                        self.corrupt_in = Some(k - take);
                    }
                }
                self.body_left -= take;
                pos += take as usize;
                continue;
            }
            self.header[self.header_len] = chunk[pos];
            self.header_len += 1;
            pos += 1;
            if self.header_len == 4 {
                self.header_len = 0;
                // A negative length is not Kafka; treat it as an empty frame and go on.
                let len = u64::try_from(i32::from_be_bytes(self.header)).unwrap_or(0);
                if len > 0 && cut() {
                    self.cut_in = Some(len / 2);
                } else {
                    self.body_left = len;
                    if len > 0 && corrupt() {
                        self.corrupt_in = Some(len * 3 / 4);
                    }
                }
            }
        }
        // A cut decided at the very end of the chunk with nothing of the body to forward.
        (self.cut_in == Some(0)).then_some(pos)
    }
}

#[cfg(test)]
mod tests {
    use super::FrameCutter;

    fn frame(len: usize, fill: u8) -> Vec<u8> {
        let mut f = (len as i32).to_be_bytes().to_vec();
        f.extend(core::iter::repeat_n(fill, len));
        f
    }

    /// Feeds `stream` in chunks of `step` bytes, arming the `nth` frame (0-based); returns how
    /// many bytes pass before the cut.
    fn cut_at(stream: &[u8], step: usize, nth: usize) -> Option<usize> {
        let mut c = FrameCutter::default();
        let mut seen = 0;
        let mut arm = || {
            seen += 1;
            seen == nth + 1
        };
        let mut done = 0;
        for chunk in stream.chunks(step) {
            if let Some(n) = c.scan(&mut chunk.to_vec(), &mut arm, &mut || false) {
                return Some(done + n);
            }
            done += chunk.len();
        }
        None
    }

    #[test]
    fn cuts_the_armed_frame_in_the_middle_of_its_body_whatever_the_chunking() {
        let mut stream = frame(10, 1);
        stream.extend(frame(100, 2));
        stream.extend(frame(7, 3));
        for step in [1, 3, 4, 5, 13, 64, 1000] {
            assert_eq!(cut_at(&stream, step, 0), Some(4 + 5), "step {step}");
            assert_eq!(cut_at(&stream, step, 1), Some(14 + 4 + 50), "step {step}");
            assert_eq!(cut_at(&stream, step, 2), Some(118 + 4 + 3), "step {step}");
            assert_eq!(cut_at(&stream, step, 3), None, "step {step}: no fourth frame");
        }
    }

    #[test]
    fn corrupt_flips_one_byte_at_three_quarters_of_the_armed_frame_whatever_the_chunking() {
        let mut stream = frame(10, 1);
        stream.extend(frame(100, 2));
        for step in [1, 3, 4, 7, 64, 1000] {
            let mut c = FrameCutter::default();
            let mut frames = 0;
            let mut out = Vec::new();
            for chunk in stream.chunks(step) {
                let mut chunk = chunk.to_vec();
                let cut = c.scan(&mut chunk, &mut || false, &mut || {
                    frames += 1;
                    frames == 2
                });
                assert_eq!(cut, None);
                out.extend(chunk);
            }
            let diff: Vec<usize> = (0..stream.len()).filter(|&i| out[i] != stream[i]).collect();
            assert_eq!(diff, [14 + 4 + 75], "step {step}");
            assert_eq!(out[14 + 4 + 75], 2 ^ 0xff);
        }
    }

    #[test]
    fn a_one_byte_frame_is_cut_right_after_its_length() {
        let stream = frame(1, 9);
        for step in [1, 2, 5] {
            assert_eq!(cut_at(&stream, step, 0), Some(4), "step {step}");
        }
    }

    #[test]
    fn empty_and_negative_lengths_are_not_cut_and_do_not_derail_the_scan() {
        let mut stream = frame(0, 0);
        stream.extend((-5i32).to_be_bytes());
        stream.extend(frame(4, 1));
        assert_eq!(cut_at(&stream, 3, 0), Some(8 + 4 + 2));
    }
}
