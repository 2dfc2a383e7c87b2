//! Ticket numbers in arbitrary subjects: never a panic, and every number found validates and
//! appears in the text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ticketcore::{Generator, NumberConfig};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for generator in [Generator::DateChecksum, Generator::Date, Generator::AutoIncrement, Generator::Random] {
        let config = NumberConfig {
            generator,
            ..NumberConfig::default()
        };
        for number in config.numbers_in(text) {
            assert!(config.parse(number.as_str()).is_ok(), "{number} does not validate");
            assert!(text.contains(number.as_str()));
        }
    }
});
