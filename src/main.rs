//! The `mdm` command line. Everything it does is in the library.

fn main() -> std::process::ExitCode {
    mdm::cli::main()
}
