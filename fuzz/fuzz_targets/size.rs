//! The size policy's inputs: `--size` strings and sizes reported by guests. Never a panic, and
//! never a size outside the session's limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use npair::size::{Size, MAX_COLS, MAX_ROWS, MIN_COLS, MIN_ROWS};

fn in_range(s: Size) -> bool {
    (MIN_COLS..=MAX_COLS).contains(&s.cols) && (MIN_ROWS..=MAX_ROWS).contains(&s.rows)
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(size) = text.parse::<Size>() {
            assert!(in_range(size), "{text:?} parsed to {size}");
            assert_eq!(size.to_string().parse::<Size>(), Ok(size));
        }
    }
    if data.len() >= 8 {
        let cols = u32::from_le_bytes(data[0..4].try_into().unwrap());
        let rows = u32::from_le_bytes(data[4..8].try_into().unwrap());
        assert!(in_range(Size::clamped(cols, rows)));
    }
});
