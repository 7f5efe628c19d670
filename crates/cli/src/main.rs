//! The `parcours` command line: the binary edge, where library errors become messages and
//! exit codes.

mod cli;
mod commands;
mod output;
mod parquet_rows;

use std::process::ExitCode;

use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc v3's `mi_option_purge_delay` (the position in its `mi_option_t`).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Keeps freed memory in the process, in ordinary pages. A scan frees and allocates
/// megabyte buffers all the time (decompressed pages); memory handed back to the system
/// comes back zeroed by the kernel, which cost a fifth of the time of a large analysis.
/// Transparent huge pages cost more than they save: the kernel zeroes two megabytes at a
/// time and, its memory fragmented, compacts it first, which took from 0.7 to 4.5 s of
/// system time in a 100M-event analysis, from one run to the next (0.3 to 0.5 s without).
/// mimalloc's own switch is read before `main`, when its arena is already reserved, so the
/// process turns them off for itself.
#[allow(unsafe_code)]
fn keep_freed_memory() {
    // SAFETY: mimalloc allows setting an option at any time, from any thread; the prctl
    // takes plain integers and changes nothing but this process's huge-page policy.
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1);
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

fn main() -> ExitCode {
    keep_freed_memory();
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
