//! rinit's own log: stderr, every line prefixed `rinit:`, no colour, no timestamps.

use std::io::Write;

use crate::cli::Config;

pub fn init(cfg: &Config) {
    let mut builder = env_logger::Builder::new();
    builder
        .filter_level(cfg.log_level)
        .target(env_logger::Target::Stderr)
        .format(|buf, record| writeln!(buf, "rinit: {}", record.args()));
    if let Some(spec) = &cfg.log_spec {
        builder.parse_filters(spec);
    }
    // Only fails when a logger is already set, which cannot happen here.
    let _ = builder.try_init();
}
