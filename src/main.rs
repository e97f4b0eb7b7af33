fn main() {
    if let Err(e) = lrnn::cli::main() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
