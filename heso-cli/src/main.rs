//! The `heso` command.

fn main() {
    std::process::exit(heso_cli::run(std::env::args_os()));
}
