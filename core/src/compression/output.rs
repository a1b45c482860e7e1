//! Decompression targets: a caller's slice (fixed, no allocator) or a `Vec` that grows on demand
//! up to a cap. One trait lets every codec write a single decoder for both.

use super::DecompressError;

/// Where a decoder writes. `[..pos()]` holds the output so far; [`Output::grow`] makes room after
/// it without ever passing the cap.
pub(crate) trait Output {
    /// Bytes written so far.
    fn pos(&self) -> usize;

    /// The output so far.
    fn written(&self) -> &[u8];

    /// The most output this target takes.
    #[cfg_attr(not(feature = "zstd"), allow(dead_code))]
    fn cap(&self) -> usize;

    /// Makes at least `want` bytes free after `pos()` (fewer, possibly none, at the cap) and
    /// returns the whole buffer: `[..pos()]` is the output so far, the rest is free.
    fn grow(&mut self, want: usize) -> &mut [u8];

    /// Marks `n` more bytes after `pos()` as written. `n` never exceeds what `grow` handed out.
    fn advance(&mut self, n: usize);

    /// Like [`Output::grow`], but fails with [`DecompressError::LimitExceeded`] unless all `want`
    /// bytes are free.
    fn grow_exact(&mut self, want: usize) -> Result<&mut [u8], DecompressError> {
        let pos = self.pos();
        let buf = self.grow(want);
        if buf.len() - pos < want {
            return Err(DecompressError::LimitExceeded);
        }
        Ok(buf)
    }

    /// Appends `bytes`, or fails with [`DecompressError::LimitExceeded`].
    fn put(&mut self, bytes: &[u8]) -> Result<(), DecompressError> {
        let pos = self.pos();
        let buf = self.grow_exact(bytes.len())?;
        buf[pos..pos + bytes.len()].copy_from_slice(bytes);
        self.advance(bytes.len());
        Ok(())
    }
}

/// A caller-provided slice; its length is the cap.
pub(crate) struct SliceOut<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> SliceOut<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, pos: 0 }
    }
}

impl Output for SliceOut<'_> {
    fn pos(&self) -> usize {
        self.pos
    }

    fn written(&self) -> &[u8] {
        &self.buf[..self.pos]
    }

    fn cap(&self) -> usize {
        self.buf.len()
    }

    fn grow(&mut self, _want: usize) -> &mut [u8] {
        self.buf
    }

    fn advance(&mut self, n: usize) {
        self.pos += n;
        debug_assert!(self.pos <= self.buf.len());
    }
}

/// A `Vec` that grows with the output (never to more than `max` bytes), so a small batch costs
/// little memory even when the cap is large.
#[cfg(feature = "alloc")]
pub(crate) struct VecOut {
    vec: alloc::vec::Vec<u8>,
    pos: usize,
    max: usize,
}

#[cfg(feature = "alloc")]
impl VecOut {
    pub(crate) const fn new(max: usize) -> Self {
        Self { vec: alloc::vec::Vec::new(), pos: 0, max }
    }

    /// The output, trimmed to what was written.
    pub(crate) fn into_vec(mut self) -> alloc::vec::Vec<u8> {
        self.vec.truncate(self.pos);
        self.vec
    }
}

#[cfg(feature = "alloc")]
impl Output for VecOut {
    fn pos(&self) -> usize {
        self.pos
    }

    fn written(&self) -> &[u8] {
        &self.vec[..self.pos]
    }

    fn cap(&self) -> usize {
        self.max
    }

    fn grow(&mut self, want: usize) -> &mut [u8] {
        let need = self.pos.saturating_add(want).min(self.max);
        if need > self.vec.len() {
            // Grow at least geometrically so many small requests stay linear overall.
            let target = need.max(self.vec.len().saturating_mul(2)).min(self.max);
            self.vec.resize(target, 0);
        }
        &mut self.vec
    }

    fn advance(&mut self, n: usize) {
        self.pos += n;
        debug_assert!(self.pos <= self.vec.len());
    }
}
