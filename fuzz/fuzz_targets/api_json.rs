#![no_main]
//! `houseband::fuzzing::api_json`: see its documentation for what the input is.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = houseband::fuzzing::api_json(data);
});
