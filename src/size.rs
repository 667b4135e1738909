//! The session size and the size policy: who votes for the pty's size and what wins.
//!
//! The policy owns the votes (the host's terminal or `--size`, and one per read-write guest) and
//! publishes the effective size on a watch channel; `share` applies it to the pty and the hub.
//! Read-only guests never vote, so they never resize the session.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

/// Narrowest session we allow: below this tmux cannot draw a usable status line.
pub const MIN_COLS: u16 = 10;
/// Shortest session we allow: a pane line plus the status line, with one to spare.
pub const MIN_ROWS: u16 = 3;
/// Smallest size a read-write guest's terminal can vote for. A guest whose terminal is smaller
/// (a 1x1 window, a broken client) is told its terminal is too small instead of collapsing the
/// session: at 20x5 the host's pane still shows a command line and a few lines of output.
pub const GUEST_MIN: Size = Size::new(20, 5);
/// Widest session: a 4K screen at a small font is under 500 columns, and the screen model
/// allocates every cell, so a hostile `u32::MAX` must not reach it.
pub const MAX_COLS: u16 = 500;
/// Tallest session, for the same reason as [`MAX_COLS`].
pub const MAX_ROWS: u16 = 300;

/// A terminal size in character cells.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Size {
    pub cols: u16,
    pub rows: u16,
}

impl Size {
    pub const fn new(cols: u16, rows: u16) -> Size {
        Size { cols, rows }
    }

    /// A size reported by someone else (the host terminal's ioctl), forced into the
    /// range the session accepts. Zero, one and `u32::MAX` all give a usable size.
    pub fn clamped(cols: u32, rows: u32) -> Size {
        let clamp = |v: u32, lo: u16, hi: u16| v.clamp(u32::from(lo), u32::from(hi)) as u16;
        Size {
            cols: clamp(cols, MIN_COLS, MAX_COLS),
            rows: clamp(rows, MIN_ROWS, MAX_ROWS),
        }
    }

    /// A guest's reported terminal size, or `None` when it reported none: RFC 4254 §6.2 says a
    /// zero width or height must be ignored (`ssh -tt` with stdin not a terminal sends 0x0).
    /// Saturated to u16, otherwise as reported, to judge whether the session fits.
    pub fn reported(cols: u32, rows: u32) -> Option<Size> {
        let sat = |v: u32| u16::try_from(v).unwrap_or(u16::MAX);
        (cols != 0 && rows != 0).then(|| Size::new(sat(cols), sat(rows)))
    }

    /// What a read-write guest with this terminal votes for: never below [`GUEST_MIN`], never
    /// above the session's maximum.
    pub fn guest_vote(self) -> Size {
        let clamp = |v: u16, lo: u16, hi: u16| v.clamp(lo, hi);
        Size {
            cols: clamp(self.cols, GUEST_MIN.cols, MAX_COLS),
            rows: clamp(self.rows, GUEST_MIN.rows, MAX_ROWS),
        }
    }

    /// True when a screen of this size can be shown whole in a terminal of size `outer`.
    pub fn fits_in(self, outer: Size) -> bool {
        self.cols <= outer.cols && self.rows <= outer.rows
    }

    /// The largest size that fits in both.
    pub fn min(self, other: Size) -> Size {
        Size {
            cols: self.cols.min(other.cols),
            rows: self.rows.min(other.rows),
        }
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.cols, self.rows)
    }
}

/// Why a `COLSxROWS` string was refused.
#[derive(Debug, PartialEq, Eq)]
pub struct ParseSizeError(String);

impl fmt::Display for ParseSizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseSizeError {}

impl FromStr for Size {
    type Err = ParseSizeError;

    /// Parses `COLSxROWS` (for example `120x40`), each within the session's limits.
    fn from_str(s: &str) -> Result<Size, ParseSizeError> {
        let bad = |why: &str| {
            ParseSizeError(format!(
                "invalid size '{s}': {why}; expected COLSxROWS, e.g. 80x24 \
                 (columns {MIN_COLS}..={MAX_COLS}, rows {MIN_ROWS}..={MAX_ROWS})"
            ))
        };
        let (c, r) = s
            .split_once(['x', 'X'])
            .ok_or_else(|| bad("no 'x' between columns and rows"))?;
        let num = |v: &str, what: &str| -> Result<u16, ParseSizeError> {
            if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad(&format!("{what} '{v}' is not a number")));
            }
            v.parse::<u16>()
                .map_err(|_| bad(&format!("{what} '{v}' is too large")))
        };
        let size = Size::new(num(c, "columns")?, num(r, "rows")?);
        if !(MIN_COLS..=MAX_COLS).contains(&size.cols)
            || !(MIN_ROWS..=MAX_ROWS).contains(&size.rows)
        {
            return Err(bad("out of range"));
        }
        Ok(size)
    }
}

/// The votes and the size they give. One per share.
pub struct SizePolicy {
    votes: Mutex<Votes>,
    /// The effective size; changed only by `SizePolicy` when a vote changes the minimum.
    effective: watch::Sender<Size>,
}

struct Votes {
    /// The host's terminal, or `--size` when headless. Always present, so the session never
    /// grows past what the host chose.
    base: Size,
    /// One entry per read-write guest with a terminal, keyed by [`Vote::id`].
    guests: HashMap<u64, Size>,
    next_id: u64,
}

impl Votes {
    fn effective(&self) -> Size {
        self.guests.values().fold(self.base, |acc, s| acc.min(*s))
    }
}

impl SizePolicy {
    pub fn new(base: Size) -> Arc<SizePolicy> {
        Arc::new(SizePolicy {
            votes: Mutex::new(Votes {
                base,
                guests: HashMap::new(),
                next_id: 0,
            }),
            effective: watch::channel(base).0,
        })
    }

    /// The size the session should have now.
    pub fn current(&self) -> Size {
        *self.effective.borrow()
    }

    /// A receiver that sees every change of the effective size.
    pub fn watch(&self) -> watch::Receiver<Size> {
        self.effective.subscribe()
    }

    /// The host's terminal was resized (or `--size` when headless).
    pub fn set_base(&self, size: Size) {
        self.update(|v| v.base = size);
    }

    /// Registers a read-write guest's terminal. The vote lasts as long as the returned guard.
    pub fn vote(self: &Arc<Self>, size: Size) -> Vote {
        let mut id = 0;
        self.update(|v| {
            id = v.next_id;
            v.next_id += 1;
            v.guests.insert(id, size);
        });
        Vote {
            policy: Arc::clone(self),
            id,
        }
    }

    fn update(&self, change: impl FnOnce(&mut Votes)) {
        let mut votes = self.votes.lock().unwrap_or_else(|e| e.into_inner());
        change(&mut votes);
        let size = votes.effective();
        // Sent under the votes lock so that two updates cannot publish out of order.
        self.effective.send_if_modified(|cur| {
            let changed = *cur != size;
            *cur = size;
            changed
        });
    }
}

/// A read-write guest's say in the session size; dropping it withdraws the vote.
pub struct Vote {
    policy: Arc<SizePolicy>,
    id: u64,
}

impl Vote {
    /// The guest's terminal was resized.
    pub fn set(&self, size: Size) {
        self.policy.update(|v| {
            v.guests.insert(self.id, size);
        });
    }
}

impl Drop for Vote {
    fn drop(&mut self) {
        self.policy.update(|v| {
            v.guests.remove(&self.id);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_cols_by_rows_and_names_bad_values() {
        assert_eq!("120x40".parse::<Size>(), Ok(Size::new(120, 40)));
        for bad in [
            "", "80", "80x", "x24", "80x24x1", "-80x24", "80 x 24", "9x24", "80x2", "501x24",
        ] {
            let err = bad.parse::<Size>().unwrap_err().to_string();
            assert!(err.contains(&format!("'{bad}'")), "{err}");
            assert!(err.contains("COLSxROWS"), "{err}");
        }
        assert!("99999999x24"
            .parse::<Size>()
            .unwrap_err()
            .to_string()
            .contains("too large"));
    }

    #[test]
    fn hostile_sizes_are_clamped() {
        assert_eq!(Size::clamped(0, 0), Size::new(MIN_COLS, MIN_ROWS));
        assert_eq!(Size::clamped(1, 1), Size::new(MIN_COLS, MIN_ROWS));
        assert_eq!(Size::clamped(10_000, 10_000), Size::new(MAX_COLS, MAX_ROWS));
        assert_eq!(
            Size::clamped(u32::MAX, u32::MAX),
            Size::new(MAX_COLS, MAX_ROWS)
        );
    }

    #[test]
    fn a_zero_size_is_no_size_and_a_tiny_one_votes_for_the_floor() {
        assert_eq!(Size::reported(0, 0), None);
        assert_eq!(Size::reported(0, 24), None);
        assert_eq!(Size::reported(80, 0), None);
        assert_eq!(Size::reported(1, 1), Some(Size::new(1, 1)));
        assert_eq!(Size::reported(u32::MAX, 3), Some(Size::new(u16::MAX, 3)));
        assert_eq!(Size::new(1, 1).guest_vote(), GUEST_MIN);
        assert_eq!(Size::new(2, 200).guest_vote(), Size::new(20, 200));
        assert_eq!(
            Size::new(u16::MAX, u16::MAX).guest_vote(),
            Size::new(MAX_COLS, MAX_ROWS)
        );
    }

    #[test]
    fn votes_shrink_the_session_and_leaving_restores_it() {
        let p = SizePolicy::new(Size::new(80, 24));
        let a = p.vote(Size::new(60, 30));
        assert_eq!(p.current(), Size::new(60, 24));
        let b = p.vote(Size::new(100, 20));
        assert_eq!(p.current(), Size::new(60, 20));
        a.set(Size::new(70, 30));
        assert_eq!(p.current(), Size::new(70, 20));
        drop(b);
        assert_eq!(p.current(), Size::new(70, 24));
        drop(a);
        assert_eq!(p.current(), Size::new(80, 24));
        p.set_base(Size::new(50, 10));
        assert_eq!(p.current(), Size::new(50, 10));
    }

    proptest! {
        /// The session is never larger than the base or any read-write guest, and is exactly
        /// the smallest of them in each dimension.
        #[test]
        fn never_larger_than_any_voter(base in (10u16..500, 3u16..300),
                                       guests in prop::collection::vec((0u32..1000, 0u32..1000), 0..8)) {
            let base = Size::new(base.0, base.1);
            let p = SizePolicy::new(base);
            let sizes: Vec<Size> = guests.iter().map(|&(c, r)| Size::clamped(c, r)).collect();
            let _votes: Vec<Vote> = sizes.iter().map(|&s| p.vote(s)).collect();
            let cur = p.current();
            prop_assert!(cur.fits_in(base));
            for s in &sizes { prop_assert!(cur.fits_in(*s)); }
            prop_assert_eq!(cur.cols, sizes.iter().map(|s| s.cols).chain([base.cols]).min().unwrap());
            prop_assert_eq!(cur.rows, sizes.iter().map(|s| s.rows).chain([base.rows]).min().unwrap());
        }
    }
}
