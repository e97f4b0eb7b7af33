fn main() {
    if let Err(e) = lrnn::cli::main() {
        // One line, so scripts and logs keep the whole message together.
        eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
        std::process::exit(1);
    }
}
