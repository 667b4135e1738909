//! The size policy's inputs: `--size` strings, the host's terminal size and sizes reported by
//! guests. Never a panic, and
//! never a size outside the session's limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use npair::size::{Size, GUEST_MIN, MAX_COLS, MAX_ROWS, MIN_COLS, MIN_ROWS};

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
        // A guest's report: zero is no size; anything else votes within the guests' range.
        match Size::reported(cols, rows) {
            None => assert!(cols == 0 || rows == 0),
            Some(reported) => {
                let vote = reported.guest_vote();
                assert!(in_range(vote) && GUEST_MIN.fits_in(vote), "{cols}x{rows} voted {vote}");
            }
        }
    }
});
