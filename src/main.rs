//! The `mdm` command line. Everything it does is in the library.

/// glibc's allocator spent a sixth of the server's CPU under FOTA load
/// (consolidating and moving blocks between the request and blocking-pool
/// threads' arenas); mimalloc's per-thread free lists do not.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    quiet_when_the_reader_goes();
    mdm::cli::main()
}

/// `mdm … | head` closes the pipe while the command is still printing, and
/// as Rust ignores SIGPIPE the next `println!` panics. A reader that has
/// gone is no failure of the command: it ends as a Unix tool killed by
/// SIGPIPE would, with status 141 and nothing on stderr.
fn quiet_when_the_reader_goes() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(mdm::cli::CLOSED_PIPE_STATUS);
        }
        report(info);
    }));
}
