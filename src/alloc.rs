//! How rootline's memory is allocated and freed: the settings of the C allocator (glibc's
//! `mallopt`: how large an allocation must be before malloc maps it on its own instead of
//! serving it from its heaps, and whether freed memory goes back to the system as it goes),
//! and large values freed on a thread aside ([`free_aside`]).

/// Serves allocations of up to 1 MiB from malloc's heaps, for the rest of the process. Called
/// before logs are loaded into memory (a no-op off glibc).
///
/// glibc maps each allocation of 128 KiB or more on its own and unmaps it when it is freed. It
/// raises that bound only when it frees a larger mapped block, and a load for analysis frees
/// none early (`rootline ingest` frees its Parquet pages, and made 29 maps for W1 2M). So
/// every parsed piece's columns (100-500 KiB each) came from fresh pages and went back at
/// the end of the block: 975 maps and 957 unmaps for W1 2M, and half of the page faults. With
/// the bound at 1 MiB they reuse the heaps' freed memory.
pub fn serve_piece_buffers_from_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt sets a parameter of glibc's malloc under its own lock; it may be called
    // at any time from any thread, and a failure leaves the old setting.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

/// Commands that hold whole tables in memory ask glibc to hand freed memory back as it goes:
/// it kept ingest's short-lived buffers, half the peak of a large analyze (9.6M lines: 2.5 GB,
/// 1.4 GB with this, and faster). Streaming `ingest` is left alone: there it cost 25% of the
/// speed for memory it does not need.
///
/// Up to [`KEPT_FREE`] of free memory stays at the top of each heap. Handing back every free
/// page (a threshold of 0) had the next block's columns fault the same pages in again:
/// `analyze` of W1 CSV 2M made 62-67k page faults and spent 0.19-0.21 s in the kernel, and
/// with 8 MiB kept, 4% less CPU (12 alternating pairs) for about 12 MiB more peak memory (a
/// `report` of the simulated 10M-line incident: 442-451 MiB, 460-462 MiB with it).
pub fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt sets a parameter of glibc's malloc under its own lock; it may be called
    // at any time from any thread, and a failure leaves the old setting.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, KEPT_FREE as libc::c_int);
    }
}

/// The free memory glibc keeps at the top of a heap before handing it back.
const KEPT_FREE: usize = 8 << 20;

/// Frees `loaded` on a thread of its own, so that the caller goes on without waiting for it:
/// an incident's tables at the end of `analyze` (on W1's 2M lines, dropping them took 5 ms of
/// the main thread's last 10, the columns' pages handed back one by one), and a load's name
/// interners once all its frames are in (at W1 10M, 7 ms on the main thread between loading
/// and analysis). When no thread can be made (a low `ulimit -u`), it is dropped here after
/// all: the refused closure that holds it is dropped on this thread, not a panic.
pub fn free_aside<T: Send + 'static>(loaded: T) {
    let _ = std::thread::Builder::new().spawn(move || drop(loaded));
}
