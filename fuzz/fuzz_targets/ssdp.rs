#![no_main]
//! `houseband::fuzzing::ssdp`: see its documentation for what the input is.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = houseband::fuzzing::ssdp(data);
});
