//! The session size and the size policy: who votes for the pty's size and what wins.
//!
//! [`SizePolicy`] owns the host's choice ([`Policy`]: `smallest`, `host` or a fixed size) and
//! the votes (the host's terminal or `--size`, and one per read-write guest), and publishes the
//! effective size on a watch channel; `share` applies it to the pty and the hub. Votes are
//! recorded whatever the policy, so a switch back to `smallest` takes effect at once. Read-only
//! guests never vote, so they never resize the session.
//!
//! Here: [`Size`] and its limits, and [`Policy`] as the host writes it; `policy.rs`: the
//! [`SizePolicy`] itself.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

mod policy;
#[cfg(test)]
mod tests;

pub use policy::{SizePolicy, Sizing, Vote};

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

/// A terminal size in character cells; `COLSxROWS` in JSON, as on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
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

impl From<Size> for String {
    fn from(s: Size) -> String {
        s.to_string()
    }
}

impl TryFrom<String> for Size {
    type Error = ParseSizeError;

    fn try_from(s: String) -> Result<Size, ParseSizeError> {
        s.parse()
    }
}

/// Why a `COLSxROWS` string was refused.
#[derive(Debug, PartialEq, Eq)]
pub struct ParseSizeError {
    value: String,
    why: String,
}

/// The limits of a `COLSxROWS`, as error messages state them.
fn limits() -> String {
    format!("columns {MIN_COLS}..={MAX_COLS}, rows {MIN_ROWS}..={MAX_ROWS}")
}

impl fmt::Display for ParseSizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid size '{}': {}; expected COLSxROWS, e.g. 80x24 ({})",
            self.value,
            self.why,
            limits()
        )
    }
}

impl std::error::Error for ParseSizeError {}

impl FromStr for Size {
    type Err = ParseSizeError;

    /// Parses `COLSxROWS` (for example `120x40`), each within the session's limits.
    fn from_str(s: &str) -> Result<Size, ParseSizeError> {
        let bad = |why: &str| ParseSizeError {
            value: s.to_owned(),
            why: why.to_owned(),
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

/// Whose terminal decides the session's size: the host's choice (`--size-policy`, and
/// `npair size-policy` while sharing). `smallest`, `host` or `COLSxROWS`, in JSON as in the CLI.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Policy {
    /// The smallest of the host's terminal and every read-write guest's: every typist sees the
    /// whole screen.
    #[default]
    Smallest,
    /// The host's terminal alone (`--size` when headless): a smaller guest is told so.
    Host,
    /// This size, whoever joins (never past the attached host's terminal: see [`SizePolicy`]).
    Fixed(Size),
}

impl Policy {
    /// Refuses a fixed size larger than the attached host's `terminal` (`None` when headless,
    /// where nobody looks at the pty directly): the host would see only part of the session.
    pub fn check(self, terminal: Option<Size>) -> Result<(), String> {
        match (self, terminal) {
            (Policy::Fixed(s), Some(t)) if !s.fits_in(t) => Err(format!(
                "the fixed size {s} is larger than the host's terminal ({t}), which would show \
                 only part of the session; make the terminal at least {s}, or choose a size \
                 that fits in {t} (a --headless share has no such limit)"
            )),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Policy::Smallest => f.write_str("smallest"),
            Policy::Host => f.write_str("host"),
            Policy::Fixed(s) => s.fmt(f),
        }
    }
}

impl FromStr for Policy {
    type Err = String;

    /// `smallest`, `host`, or a fixed `COLSxROWS` within [`Size`]'s limits.
    fn from_str(s: &str) -> Result<Policy, String> {
        match s.to_ascii_lowercase().as_str() {
            "smallest" => return Ok(Policy::Smallest),
            "host" => return Ok(Policy::Host),
            _ => {}
        }
        let looks_like_a_size = s.bytes().next().is_some_and(|b| b.is_ascii_digit());
        let why = match s.parse::<Size>() {
            Ok(size) => return Ok(Policy::Fixed(size)),
            Err(e) if looks_like_a_size => format!("{}, ", e.why),
            Err(_) => String::new(),
        };
        Err(format!(
            "invalid size policy '{s}': {why}choose smallest, host, or a fixed size COLSxROWS \
             such as 100x30 ({})",
            limits()
        ))
    }
}

impl From<Policy> for String {
    fn from(p: Policy) -> String {
        p.to_string()
    }
}

impl TryFrom<String> for Policy {
    type Error = String;

    fn try_from(s: String) -> Result<Policy, String> {
        s.parse()
    }
}
