//! One chunk's way through the framer: the model fed up to each place where a larger terminal
//! would differ, and what is put right there.

use std::fmt::Write as _;

use bytes::Bytes;

use super::{Framed, Piece};
use crate::hub::scan::Scan;
use crate::size::Size;

/// The cursor at the end of a row, as a wrap from there needs it.
#[derive(Clone, Copy)]
pub(super) struct RowEnd {
    row: u16,
    region: (u16, u16),
    background: bool,
}

/// One chunk on its way through the framer.
pub(super) struct Run<'a> {
    parser: &'a mut vt100::Parser,
    bytes: &'a [u8],
    /// `bytes[..fed]` have been fed to the model.
    fed: usize,
    /// `bytes[..copied]` are in `out`, when there is an `out`.
    copied: usize,
    /// The framed bytes since the last piece, once they differ from `bytes`.
    out: Option<Vec<u8>>,
    /// The pieces so far.
    pieces: Vec<Piece>,
    /// Rows whose area right of the session needs repairing (indexed by row; empty when none).
    right: Vec<bool>,
    /// The rows below the session need blanking.
    below: bool,
}

impl<'a> Run<'a> {
    pub(super) fn new(parser: &'a mut vt100::Parser, bytes: &'a [u8]) -> Run<'a> {
        Run {
            parser,
            bytes,
            fed: 0,
            copied: 0,
            out: None,
            pieces: Vec::new(),
            right: Vec::new(),
            below: false,
        }
    }

    fn screen(&self) -> &vt100::Screen {
        self.parser.screen()
    }

    fn size(&self) -> Size {
        size_of(self.screen())
    }

    fn feed_to(&mut self, at: usize) {
        if at > self.fed {
            self.parser.process(&self.bytes[self.fed..at]);
            self.fed = at;
        }
    }

    /// Replaces `bytes[start..end]` by `with` in the output.
    fn replace(&mut self, start: usize, end: usize, with: &[u8]) {
        let out = self
            .out
            .get_or_insert_with(|| Vec::with_capacity(self.bytes.len() + 64));
        out.extend_from_slice(&self.bytes[self.copied..start]);
        out.extend_from_slice(with);
        self.copied = end;
    }

    fn insert(&mut self, at: usize, with: &[u8]) {
        self.replace(at, at, with);
    }

    /// Whether erased or scrolled-in cells show anything: a background colour, or inverse
    /// video or an underline (which some terminals keep on erased cells).
    fn background_set(&self) -> bool {
        let screen = self.screen();
        screen.bgcolor() != vt100::Color::Default || screen.inverse() || screen.underline()
    }

    /// Marks rows `from..=to` for repair right of the session.
    fn mark_right(&mut self, from: u16, to: u16) {
        let rows = usize::from(self.size().rows);
        if self.right.is_empty() {
            self.right = vec![false; rows];
        }
        for r in usize::from(from)..=usize::from(to).min(rows - 1) {
            self.right[r] = true;
        }
    }

    /// Rows `from..=to` moved (a scroll, an insert or delete of lines): with a background
    /// colour they bring it outside the session, and rows marked for repair may have moved
    /// into them.
    fn rows_moved(&mut self, from: u16, to: u16, background: bool) {
        if background || !self.right.is_empty() {
            self.mark_right(from, to);
        }
    }

    pub(super) fn walk(&mut self) {
        let len = self.bytes.len();
        let mut i = 0;
        while i < len {
            match self.bytes[i] {
                0x1b => {
                    let end = sequence_end(self.bytes, i);
                    self.escape(i, end);
                    i = end;
                }
                b'\n' | 0x0b | 0x0c => {
                    self.scroll(i, i + 1, false);
                    i += 1;
                }
                0x00..=0x1f | 0x7f => i += 1,
                _ => {
                    let end = self.bytes[i..]
                        .iter()
                        .position(|&b| b < 0x20 || b == 0x7f)
                        .map_or(len, |n| i + n);
                    self.text(i, end);
                    i = end;
                }
            }
        }
    }

    /// Where the cursor waits at the end of a row, and what a character there does.
    fn at_row_end(&self) -> RowEnd {
        RowEnd {
            row: self.screen().cursor_position().0,
            region: self.screen().scroll_region(),
            background: self.background_set(),
        }
    }

    /// What the C-column terminal does when a character comes while the cursor waits at the
    /// end of the row (`end`): the start of the next row, scrolling the region from its bottom
    /// row, or staying on the screen's last row when that is below the region.
    fn wrap(&mut self, at: usize, end: RowEnd) {
        let (top, bottom) = end.region;
        if end.row == bottom || end.row + 1 < self.size().rows {
            self.insert(at, b"\r\n");
            if end.row == bottom {
                self.rows_moved(top, bottom, end.background);
            }
        } else {
            self.insert(at, b"\r");
        }
    }

    /// A run of printable characters: the wraps the model makes are made explicit.
    fn text(&mut self, start: usize, end: usize) {
        self.feed_to(start);
        let cols = usize::from(self.size().cols);
        if self.bytes[start..end].is_ascii() {
            // One column each: the row is full after `cols - col` of them, and a character
            // that comes while the cursor waits past the last column wraps.
            let mut at = start;
            loop {
                let (_, col) = self.screen().cursor_position();
                let wraps_at = at + cols.saturating_sub(usize::from(col));
                if wraps_at >= end {
                    break;
                }
                self.feed_to(wraps_at);
                let row_end = self.at_row_end();
                self.wrap(wraps_at, row_end);
                at = wraps_at + 1;
                self.feed_to(at);
            }
            return;
        }
        // Other characters may be wide, joined or zero-width: feed them one at a time and,
        // near the end of a row, see whether the model's cursor went on to another row.
        let mut at = start;
        while at < end {
            let next = (at + utf8_len(self.bytes[at])).min(end);
            self.feed_to(at);
            let (row, col) = self.screen().cursor_position();
            if usize::from(col) + 2 > cols {
                let row_end = self.at_row_end();
                self.feed_to(next);
                let after = self.screen().cursor_position();
                if after.0 != row || after.1 < col {
                    self.wrap(at, row_end);
                }
            }
            at = next;
        }
        self.feed_to(end);
    }

    /// LF, VT, FF, IND and NEL (`up` false), or RI (`up` true): a scroll when the cursor is on
    /// the region's edge, which spreads a background colour outside the session.
    /// On the session's last row below the region, a line feed stays put; on a taller
    /// terminal it would go on to a row outside the session, so it is left out (NEL keeps its
    /// carriage return).
    fn scroll(&mut self, start: usize, end: usize, up: bool) {
        self.feed_to(start);
        let (row, _) = self.screen().cursor_position();
        let (top, bottom) = self.screen().scroll_region();
        self.feed_to(end);
        if !up && row + 1 == self.size().rows && row != bottom {
            let stays: &[u8] = if &self.bytes[start..end] == b"\x1bE" {
                b"\r"
            } else {
                b""
            };
            self.replace(start, end, stays);
            return;
        }
        let edge = if up { top } else { bottom };
        if row == edge {
            let bg = self.background_set();
            self.rows_moved(top, bottom, bg);
        }
    }

    fn escape(&mut self, start: usize, end: usize) {
        let seq = &self.bytes[start..end];
        match seq {
            b"\x1bc" => {
                // RIS: the whole (larger) screen becomes the region; give it the model's.
                self.feed_to(end);
                let region = self.region_sequence();
                self.insert(end, region.as_bytes());
            }
            b"\x1bD" | b"\x1bE" => self.scroll(start, end, false),
            b"\x1bM" => self.scroll(start, end, true),
            [0x1b, b'[', .., fin] if well_formed_csi(&seq[2..]) => {
                self.csi(start, end, &seq[2..seq.len() - 1], *fin)
            }
            _ => self.feed_to(end),
        }
    }

    fn region_sequence(&self) -> String {
        let (top, bottom) = self.screen().scroll_region();
        format!("\x1b[{};{}r", top + 1, bottom + 1)
    }

    fn csi(&mut self, start: usize, end: usize, params: &[u8], fin: u8) {
        let private = params.first().is_some_and(|b| (0x3c..=0x3f).contains(b));
        let intermediate = params.iter().any(|b| (0x20..=0x2f).contains(b));
        if intermediate {
            return self.feed_to(end);
        }
        if private {
            let alt_screen = [&b"?1049"[..], b"?1047", b"?47"].contains(&params);
            if alt_screen {
                // Repairs are for the screen they were marked on.
                self.repair(start);
            }
            self.feed_to(end);
            if alt_screen && (fin == b'h' || fin == b'l') {
                // Terminals differ on whether each screen has a scroll region of its own, and
                // where one starts afresh it is the whole (larger) screen: give it the model's,
                // then put the cursor back where setting it moved it from.
                let (row, col) = self.screen().cursor_position();
                let cols = self.size().cols;
                let mut fix = self.region_sequence();
                let _ = write!(fix, "\x1b[{};{}H", row + 1, col.min(cols - 1) + 1);
                self.insert(end, fix.as_bytes());
                if fin == b'h' && self.background_set() {
                    self.mark_right(0, self.size().rows - 1);
                    self.below = true;
                }
            }
            return;
        }
        let first = first_param(params);
        self.feed_to(end);
        let (row, _) = self.screen().cursor_position();
        let last = self.size().rows - 1;
        let (top, bottom) = self.screen().scroll_region();
        let bg = self.background_set();
        match fin {
            // A cursor move that the session's edge stopped would go on past it: make it the
            // place the model took (tmux keeps inside its size, but nothing else need).
            b'H' | b'f' | b'G' | b'`' | b'C' | b'a' | b'd' | b'e' | b'B' | b'E' => {
                let (row, col) = self.screen().cursor_position();
                let size = self.size();
                if row + 1 >= size.rows || col + 1 >= size.cols {
                    let to = format!("\x1b[{};{}H", row + 1, col.min(size.cols - 1) + 1);
                    self.replace(start, end, to.as_bytes());
                }
            }
            b'r' => {
                // DECSTBM: the model's region, as the model took it (a reset or a bottom past
                // the session's last row means the session's last row, not the terminal's).
                let region = self.region_sequence();
                self.replace(start, end, region.as_bytes());
            }
            // ICH pushes the row's last characters out past column C.
            b'@' => self.mark_right(row, row),
            // DCH pulls cells in from outside, where the C-column terminal makes blanks of the
            // background colour.
            b'P' if bg => self.mark_right(row, row),
            // (Erasing to the left too: from a cursor waiting past the last column, a larger
            // terminal erases the column after it.)
            b'K' if bg => self.mark_right(row, row),
            b'J' if bg => match first {
                0 => {
                    self.mark_right(row, last);
                    self.below = true;
                }
                1 => self.mark_right(0, row),
                _ => {
                    self.mark_right(0, last);
                    self.below = true;
                }
            },
            b'L' | b'M' if (top..=bottom).contains(&row) => self.rows_moved(row, bottom, bg),
            b'S' | b'T' => self.rows_moved(top, bottom, bg),
            _ => {}
        }
    }

    /// Ends the output so far with the repairs of what it spread outside the session, as the
    /// model stands after `bytes[..at]`.
    fn repair(&mut self, at: usize) {
        if self.right.is_empty() && !self.below {
            return;
        }
        self.feed_to(at);
        let mut body = self.out.take().unwrap_or_default();
        body.extend_from_slice(&self.bytes[self.copied..at]);
        self.copied = at;
        self.out = Some(Vec::new());
        self.pieces.push(Piece::Body(Bytes::from(body)));

        let screen = self.parser.screen();
        let Size { cols, rows } = size_of(screen);
        let mut right = String::new();
        for (r, _) in self.right.iter().enumerate().filter(|(_, dirty)| **dirty) {
            // Blank the whole row first (the model's formatting skips cells left blank), and
            // the area right of the session last (it may end the row with an erase in colour).
            let r = r as u16;
            let _ = write!(right, "\x1b[{};1H\x1b[m\x1b[2K", r + 1);
            right.push_str(&screen.row_formatted(r));
            let _ = write!(right, "\x1b[{};{}H\x1b[m\x1b[K", r + 1, cols + 1);
        }
        if !right.is_empty() {
            self.pieces.push(Piece::Right(Bytes::from(right)));
        }
        if self.below {
            let below = format!("\x1b[{};1H\x1b[m\x1b[J", rows + 1);
            self.pieces.push(Piece::Below(Bytes::from(below)));
        }
        // The model's own cursor state: where the cursor waits past the last column, it draws
        // that column's cell again to get there, so that a combining character still joins it.
        let mut restore = screen.cursor_state_formatted();
        restore.push_str("\x1b[m");
        restore.push_str(&screen.attributes_formatted());
        self.pieces.push(Piece::Restore(Bytes::from(restore)));
        self.right.clear();
        self.below = false;
    }

    /// The framed chunk.
    pub(super) fn finish(mut self, bytes: &Bytes) -> Framed {
        let len = self.bytes.len();
        self.repair(len);
        self.feed_to(len);
        match self.out.take() {
            None => self.pieces.push(Piece::Body(bytes.clone())),
            Some(mut out) => {
                out.extend_from_slice(&self.bytes[self.copied..]);
                if !out.is_empty() {
                    self.pieces.push(Piece::Body(Bytes::from(out)));
                }
            }
        }
        Framed {
            pieces: self.pieces,
        }
    }
}

fn size_of(screen: &vt100::Screen) -> Size {
    let (rows, cols) = screen.size();
    Size::new(cols.get(), rows.get())
}

/// The end of the escape sequence that starts at `start` (an ESC), or of the bytes.
fn sequence_end(bytes: &[u8], start: usize) -> usize {
    let mut scan = Scan::Esc;
    let mut i = start + 1;
    while i < bytes.len() {
        scan = scan.next(bytes[i]);
        i += 1;
        if scan == Scan::Ground {
            return i;
        }
    }
    bytes.len()
}

/// A control sequence's bytes after `ESC [`, read whole: parameters, then a final byte, with no
/// control inside (a terminal acts on one where it stands; the framer leaves such a sequence
/// to the model alone).
fn well_formed_csi(rest: &[u8]) -> bool {
    match rest.split_last() {
        Some((fin, params)) => {
            (0x40..=0x7e).contains(fin) && params.iter().all(|b| (0x20..=0x3f).contains(b))
        }
        None => false,
    }
}

/// The first numeric parameter, 0 when absent.
fn first_param(params: &[u8]) -> u16 {
    params
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .fold(0u16, |n, &b| {
            n.saturating_mul(10).saturating_add(u16::from(b - b'0'))
        })
}

/// The length of the UTF-8 character that starts with `b` (1 for a stray byte).
fn utf8_len(b: u8) -> usize {
    match b {
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => 1,
    }
}
