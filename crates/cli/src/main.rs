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

/// Keeps freed memory in the process. A scan frees and allocates megabyte buffers all the
/// time (decompressed pages); memory handed back to the system comes back zeroed by the
/// kernel, which cost a fifth of the time of a large analysis.
#[allow(unsafe_code)]
fn keep_freed_memory() {
    // SAFETY: mimalloc allows setting an option at any time, from any thread.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
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
