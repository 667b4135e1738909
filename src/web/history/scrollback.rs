//! A pane's scrollback: the rows that scroll off its model's top, kept as text with their
//! attributes and encoded as a frame's row only when a viewer asks.

use std::collections::VecDeque;

use super::pane::dim;
use super::{HISTORY_BYTES, HISTORY_ROWS, PAGE_BYTES, PAGE_ROWS};
use crate::web::render::encode_row;

/// A pane's kept rows, oldest first, numbered from the first row kept since the share began.
/// Each is kept as its text with its attributes' escape sequences (vt100's basic formatted
/// form, about the size of what the program wrote) and the width it had, and encoded as a
/// frame's row only when a viewer asks for it: a flood scrolls millions of rows through here,
/// and viewers read a few hundred.
#[derive(Default)]
pub(super) struct Scrollback {
    pub(super) rows: VecDeque<(u16, Box<str>)>,
    pub(super) bytes: usize,
    /// Rows ever kept: the number the next one gets.
    pub(super) total: u64,
}

impl Scrollback {
    pub(super) fn push(&mut self, cols: u16, row: String) {
        self.bytes += row.len();
        self.rows.push_back((cols, row.into_boxed_str()));
        self.total += 1;
        while self.rows.len() > HISTORY_ROWS || (self.bytes > HISTORY_BYTES && self.rows.len() > 1)
        {
            if let Some((_, old)) = self.rows.pop_front() {
                self.bytes -= old.len();
            }
        }
    }

    /// The number of the oldest row still kept.
    pub(super) fn start(&self) -> u64 {
        self.total - self.rows.len() as u64
    }

    /// Rows numbered below `before`, or from `after` on, or the newest: at most [`PAGE_ROWS`]
    /// and about [`PAGE_BYTES`], the ones nearest the row asked from. Returns the number of
    /// the first one and the rows.
    pub(super) fn page(
        &self,
        before: Option<u64>,
        after: Option<u64>,
    ) -> (u64, Vec<&(u16, Box<str>)>) {
        let start = self.start();
        let row = |n: u64| &self.rows[(n - start) as usize];
        let mut out = Vec::new();
        let mut bytes = 0;
        if let (Some(from), None) = (after, before) {
            let mut n = from.max(start);
            while n < self.total && out.len() < PAGE_ROWS && (out.is_empty() || bytes < PAGE_BYTES)
            {
                bytes += row(n).1.len();
                out.push(row(n));
                n += 1;
            }
            return (from.max(start).min(self.total), out);
        }
        let end = before.unwrap_or(self.total).min(self.total);
        let mut n = end;
        while n > start && out.len() < PAGE_ROWS && (out.is_empty() || bytes < PAGE_BYTES) {
            n -= 1;
            bytes += row(n).1.len();
            out.push(row(n));
        }
        out.reverse();
        (n.max(start), out)
    }
}

/// A pane's model's callbacks: rows scrolled off its top go to its scrollback.
pub(super) struct Kept {
    pub(super) kept: Scrollback,
    /// The pane's width: the width of the rows it pushes off.
    pub(super) cols: u16,
    /// Set while the model is resized: rows a shrinking pane pushes off are kept, but blank
    /// ones are padding, not output.
    pub(super) resizing: bool,
}

impl vt100::Callbacks for Kept {
    fn on_scroll(&mut self, row: vt100::capture::RowContents<'_>, alternate_screen: bool) {
        // A full-screen program's screen is not the session's history.
        if alternate_screen {
            return;
        }
        let mut text = String::new();
        let _ = row.write_formatted_basic(
            &mut text,
            &mut vt100::capture::BasicFormattedCaptureState::new(),
        );
        // Blank rows before anything is kept were on the screen when the share began: the
        // model never saw what they held, and they would only say that something was there.
        if blank(&text) && (self.kept.total == 0 || self.resizing) {
            return;
        }
        self.kept.push(self.cols, text);
    }
}

/// A kept row (see [`Scrollback`]) as a frame's row: drawn into one row of its width, then
/// encoded cell by cell exactly as the live screen's rows are.
pub(super) fn encode_kept(cols: u16, text: &str, vs16_wide: bool) -> String {
    let mut row = vt100::Parser::new(dim(1), dim(cols), 0);
    row.screen_mut().set_vs16_wide(vs16_wide);
    row.process(text.as_bytes());
    encode_row(row.screen(), 0, cols)
}

/// Whether a kept row's text draws nothing: only spaces and escape sequences.
pub(super) fn blank(text: &str) -> bool {
    let mut in_escape = false;
    for c in text.chars() {
        match c {
            '\x1b' => in_escape = true,
            // A CSI sequence ends with a letter; `[` and the parameters come before.
            c if in_escape => in_escape = !c.is_ascii_alphabetic() || c == '[',
            ' ' => {}
            _ => return false,
        }
    }
    true
}
