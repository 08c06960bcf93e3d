//! The `mdm` command line. Everything it does is in the library.

/// glibc's allocator spent a sixth of the server's CPU under FOTA load
/// (consolidating and moving blocks between the request and blocking-pool
/// threads' arenas); mimalloc's per-thread free lists do not.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    mdm::cli::main()
}
