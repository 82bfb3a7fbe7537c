#![no_main]
//! `houseband::fuzzing::podcast_feed`: see its documentation for what the input is.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The server catches feed-rs's panics (`houseband::app::survive`); libfuzzer-sys's hook would
    // abort on them even so. Back to the default hook: a panic the server does not catch still
    // reaches libfuzzer-sys, which aborts, and counts as a crash.
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| drop(std::panic::take_hook()));
    let _ = houseband::fuzzing::podcast_feed(data);
});
