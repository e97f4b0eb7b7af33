fn main() {
    // `lrnn list | head`: a closed pipe ends the process quietly, as it does any Unix tool,
    // rather than panicking in println!.
    // SAFETY: restoring a signal's default disposition at start-up, before any thread exists.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    if let Err(e) = lrnn::cli::main() {
        // One line, so scripts and logs keep the whole message together.
        eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
        // A run stopped by a signal exits as the shell reports a death by it (130 for SIGINT).
        let code = match e.downcast_ref::<lrnn::Error>() {
            Some(lrnn::Error::Interrupted { signal, .. }) => 128 + signal,
            _ => 1,
        };
        std::process::exit(code);
    }
}
