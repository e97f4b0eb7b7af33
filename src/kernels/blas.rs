//! The GEMM backend: the system OpenBLAS, linked through `openblas-src`, and its thread pool.

use std::ffi::{CStr, c_char, c_int};

unsafe extern "C" {
    fn openblas_set_num_threads(n: c_int);
    fn openblas_get_num_threads() -> c_int;
    fn openblas_get_config() -> *const c_char;
}

/// Sets the number of OpenBLAS threads for subsequent GEMMs.
pub fn set_threads(n: usize) {
    // SAFETY: OpenBLAS documents this as callable at any time from the main thread.
    unsafe { openblas_set_num_threads(n.max(1) as c_int) }
}

/// Cores this process may use: `requested`, else every core the OS offers.
pub fn cores(requested: Option<usize>) -> usize {
    requested
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1)
}

/// The cores a Slurm task was given (`SLURM_CPUS_PER_TASK`), if it runs under Slurm.
pub fn slurm_cpus() -> Option<usize> {
    std::env::var("SLURM_CPUS_PER_TASK").ok()?.parse().ok()
}

/// Runs data-parallel work (rayon's global pool) on `cores` threads (default: all): a
/// run-time resource, which changes how fast a run goes, never its numbers. Call it before
/// the first parallel loop; later calls keep the first pool.
pub fn use_cores(cores: Option<usize>) {
    let n = self::cores(cores);
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build_global();
}

/// One level of parallelism at a time: with several data-parallel shards BLAS runs
/// single-threaded; one shard gives BLAS `threads` (OpenBLAS's own choice when `None`).
pub fn one_level(shards: usize, threads: Option<usize>) {
    if shards > 1 {
        set_threads(1);
    } else if let Some(n) = threads {
        set_threads(n);
    }
}

/// Threads OpenBLAS will use.
pub fn threads() -> usize {
    // SAFETY: a plain getter with no preconditions.
    unsafe { openblas_get_num_threads() as usize }
}

/// OpenBLAS's build description (version, kernel, threading).
pub fn config() -> String {
    // SAFETY: returns a pointer to a static NUL-terminated string owned by OpenBLAS.
    unsafe { CStr::from_ptr(openblas_get_config()) }
        .to_string_lossy()
        .trim()
        .to_string()
}
