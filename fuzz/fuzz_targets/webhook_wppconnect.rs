//! Any bytes posted to a WppConnect webhook: the parser returns events or an error, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use omega_channels::{Source, parse};

fuzz_target!(|data: &[u8]| {
    let _ = parse(Source::WppConnect, data);
});
