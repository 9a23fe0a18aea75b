//! rinit's own log: stderr, every line prefixed `rinit:`, no colour, no timestamps.

use std::io::Write;

use crate::config::Config;

pub fn init(cfg: &Config) {
    let mut builder = env_logger::Builder::new();
    builder
        .filter_level(cfg.log_level)
        .target(env_logger::Target::Stderr)
        .format(|buf, record| writeln!(buf, "rinit: {}", record.args()));
    for (module, level) in &cfg.log_filters {
        builder.filter(module.as_deref(), *level);
    }
    // Only fails when a logger is already set, which cannot happen here.
    let _ = builder.try_init();
}
