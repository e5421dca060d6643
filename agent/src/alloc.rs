//! The daemon's allocator. Spans are built on the capture thread and freed on the export
//! thread; mimalloc takes such cross-thread frees without the arena locking glibc's malloc
//! pays for them (the pipeline benchmark ran 45% to 90% faster with it). Built without
//! transparent huge pages (libmimalloc-sys `no_thp`): with them every first touch of an
//! arena faulted in and zeroed 2 MiB, and peak RSS at 10k requests/s went from 30 to 45 MiB.

use std::ffi::{c_int, c_long};

pub use mimalloc::MiMalloc as Allocator;

/// `mi_option_purge_delay` in mimalloc.h's `mi_option_e` (v3); libmimalloc-sys names no
/// constant for it. A unit test checks the index against the option's default.
const PURGE_DELAY: c_int = 15;
/// mimalloc v3's default (src/options.c): free memory goes back to the system a second after
/// it is freed.
const DEFAULT_PURGE_DELAY_MS: c_long = 1000;

/// Start-up reads the kernel's type information (BTF) through large short-lived buffers.
/// With purging immediate, each is handed back as soon as it is freed, so the peak RSS is the
/// live data, not the sum of every buffer grown along the way.
pub fn purge_at_once(yes: bool) {
    let ms = if yes { 0 } else { DEFAULT_PURGE_DELAY_MS };
    // SAFETY: sets one of the allocator's options; valid at any time.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, ms) };
}

/// Hands every free page back to the system.
pub fn release_free_memory() {
    // SAFETY: only purges memory the allocator holds free; no pointer is invalidated.
    unsafe { libmimalloc_sys::mi_collect(true) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purge_delay_option_index_is_mimallocs() {
        // SAFETY: reads one option.
        let now = unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) };
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(now, DEFAULT_PURGE_DELAY_MS);
        }
    }
}
