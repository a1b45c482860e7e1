//! Gives the engine's empty arena memory back to the operating system: the release hook of
//! [`kprod_core::producer::Storage::with_release`], so `buffer.memory` is a bound and not an
//! allocation. The core calls it at batch completion (never per record) with memory that holds
//! no batch: the pages past a completed batch's records that an earlier batch wrote, and whole
//! chunks once more than 1/32 of the arena is free and was written. The same call
//! keeps the zeroes of a compression job's output buffer out of the resident set
//! ([`grow_zeroed`]).
//!
//! This is the crate's one `unsafe` block: `madvise` has no safe wrapper in std, and the core
//! (`no_std`, `forbid(unsafe_code)`) cannot make the call itself.
#![allow(unsafe_code)]

use std::sync::atomic::{AtomicUsize, Ordering};

/// The page size, read once.
pub(crate) fn page_size() -> usize {
    static PAGE: AtomicUsize = AtomicUsize::new(0);
    match PAGE.load(Ordering::Relaxed) {
        0 => {
            // SAFETY: sysconf only reads a system value; it takes no pointer.
            let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
            let size = usize::try_from(size).ok().filter(|s| s.is_power_of_two()).unwrap_or(4096);
            PAGE.store(size, Ordering::Relaxed);
            size
        }
        size => size,
    }
}

/// Discards the whole pages inside `bytes` (`MADV_DONTNEED`): the kernel unmaps them, so they
/// leave the resident set, and the next write maps a fresh zeroed page. The partial pages at
/// either end are left alone (a neighbouring chunk may be in use). A failure (locked memory,
/// say) only leaves the pages resident.
pub(crate) fn release(bytes: &mut [u8]) {
    let page = page_size();
    let start = bytes.as_mut_ptr() as usize;
    let first = start.next_multiple_of(page);
    let last = (start + bytes.len()) / page * page;
    if first < last {
        // SAFETY: `first..last` lies inside `bytes`, which is borrowed mutably for the call, so
        // nothing else reads or writes it meanwhile. MADV_DONTNEED changes no mapping and frees
        // no allocation: the pages stay ours, only their contents may read as zeroes (private
        // memory) or as the file's (shared), which the accumulator accepts for a chunk without
        // a batch (it writes a chunk before it reads it). The pointer comes from `bytes` and is
        // page-aligned, as madvise requires.
        let _ = unsafe { libc::madvise(first as *mut libc::c_void, last - first, libc::MADV_DONTNEED) };
    }
}

/// Grows `buf` to `len` bytes, the new ones zero, without keeping those zeroes resident: the
/// whole pages the growth wrote are given back at once ([`release`]), so they read as zero and
/// are mapped again only where something writes them. For a buffer sized for a worst case
/// that is rarely written in full (a compression job's output: the codec's bound, about its
/// input's size, of which a result fills a few times less), and whose bytes are written before
/// they are read, as [`release`] asks.
pub(crate) fn grow_zeroed(buf: &mut Vec<u8>, len: usize) {
    let had = buf.len();
    if had < len {
        buf.resize(len, 0);
        release(&mut buf[had..]);
    }
}

/// Resident pages of a buffer, from mincore.
#[cfg(test)]
fn resident_pages(buf: &[u8]) -> usize {
    let page = page_size();
    let start = (buf.as_ptr() as usize).next_multiple_of(page);
    let end = (buf.as_ptr() as usize + buf.len()) / page * page;
    let mut vec = vec![0u8; (end - start) / page];
    // SAFETY: the range lies inside `buf`, page-aligned; `vec` has one byte per page.
    let rc = unsafe { libc::mincore(start as *mut libc::c_void, end - start, vec.as_mut_ptr()) };
    assert_eq!(rc, 0, "mincore");
    vec.iter().filter(|&&b| b & 1 != 0).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn released_pages_leave_the_resident_set_and_read_as_zero() {
        let page = page_size();
        let mut buf = vec![0u8; 65 * page];
        let off = (buf.as_ptr() as usize).next_multiple_of(page) - buf.as_ptr() as usize;
        let b = &mut buf[off..off + 64 * page];
        b.fill(0x5A);
        let before = resident_pages(b);
        assert_eq!(before, 64, "pages resident after writing");
        // Not page-aligned at either end: the partial pages stay, pages 1..40 go.
        release(&mut b[page / 2..page * 40 + 7]);
        assert_eq!(resident_pages(b), 64 - 39, "pages resident after the release");
        assert!(b[page..page * 40].iter().all(|&x| x == 0), "discarded pages read as zero");
        assert!(b[..page].iter().all(|&x| x == 0x5A) && b[page * 40..].iter().all(|&x| x == 0x5A));
    }

    #[test]
    fn a_zeroed_growth_stays_out_of_the_resident_set_until_written() {
        let page = page_size();
        let mut buf = Vec::new();
        grow_zeroed(&mut buf, 64 * page);
        assert_eq!(buf.len(), 64 * page);
        // At most the partial pages at either end of the growth stay. (Reading maps the
        // zero page, which mincore counts: contents are checked last.)
        assert!(resident_pages(&buf) <= 2, "{} of 64 pages resident after the growth", resident_pages(&buf));
        buf[..8 * page].fill(1);
        assert!(resident_pages(&buf) <= 8 + 2, "{} pages resident after writing 8", resident_pages(&buf));
        // Growing again keeps what was written, and the new pages stay out too.
        grow_zeroed(&mut buf, 128 * page);
        assert!(resident_pages(&buf) <= 8 + 4, "{} pages resident after the second growth", resident_pages(&buf));
        assert!(buf[..8 * page].iter().all(|&x| x == 1) && buf[8 * page..].iter().all(|&x| x == 0));
    }
}
