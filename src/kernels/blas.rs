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
