//! [`List`]: what a transaction keeps (its partitions, the offsets of a call) on the heap with
//! the `alloc` feature, or in a small fixed array without it, so a producer on a
//! microcontroller that never uses transactions does not pay for large tables.

use core::ops::{Deref, DerefMut};

/// A list of at most `N` items without `alloc`; with `alloc`, of at most the `limit` each push
/// names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct List<T, const N: usize> {
    #[cfg(feature = "alloc")]
    items: alloc::vec::Vec<T>,
    #[cfg(not(feature = "alloc"))]
    items: heapless::Vec<T, N>,
}

impl<T, const N: usize> List<T, N> {
    pub(crate) const fn new() -> Self {
        #[cfg(feature = "alloc")]
        let items = alloc::vec::Vec::new();
        #[cfg(not(feature = "alloc"))]
        let items = heapless::Vec::new();
        Self { items }
    }

    /// Appends `item` unless the list holds `limit` items (or `N` without `alloc`).
    pub(crate) fn push(&mut self, item: T, limit: usize) -> bool {
        if self.items.len() >= limit {
            return false;
        }
        #[cfg(feature = "alloc")]
        {
            self.items.push(item);
            true
        }
        #[cfg(not(feature = "alloc"))]
        {
            self.items.push(item).is_ok()
        }
    }

    /// Keeps the items `keep` accepts.
    pub(crate) fn retain(&mut self, keep: impl FnMut(&T) -> bool) {
        self.items.retain(keep);
    }

    pub(crate) fn clear(&mut self) {
        self.items.clear();
    }
}

impl<T: Copy, const N: usize> List<T, N> {
    /// Appends every item, or none if they do not all fit.
    pub(crate) fn extend(&mut self, items: &[T], limit: usize) -> bool {
        if self.items.len() + items.len() > limit.min(self.capacity()) {
            return false;
        }
        items.iter().all(|&i| self.push(i, limit))
    }

    const fn capacity(&self) -> usize {
        if cfg!(feature = "alloc") {
            usize::MAX
        } else {
            N
        }
    }
}

impl<T, const N: usize> Deref for List<T, N> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.items
    }
}

impl<T, const N: usize> DerefMut for List<T, N> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.items
    }
}
