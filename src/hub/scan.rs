//! The byte scanner: where the tmux client's output stands between two reads, so that the hub
//! publishes only whole escape sequences and characters. A read that ends inside one keeps that
//! tail back until the next read completes it, so that a snapshot is never taken, and a
//! subscriber never starts, in the middle of a sequence.

use bytes::Bytes;

/// A tail held back longer than this is published anyway: an unterminated string (a broken
/// OSC title, say) must not hold the screen back for good. Tmux's sequences are mostly far
/// shorter; a string that is longer (a clipboard write of a large copy) and that the stripping
/// removes is cut there, and the rest of it dropped as it comes (see [`Boundary`]).
pub(super) const MAX_HELD_BACK: usize = 4096;

/// Where an ECMA-48 byte stream stands between two reads: in ground state (a sequence or
/// character may start at the next byte) or inside one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum Scan {
    #[default]
    Ground,
    /// Inside a UTF-8 character, with this many continuation bytes to come.
    Utf8(u8),
    Esc,
    EscIntermediate,
    Csi,
    /// OSC: ends with ST (ESC \\) or BEL.
    Osc,
    /// DCS, SOS, PM or APC: ends with ST only (a BEL inside is data, as terminals read it).
    Str,
    /// ESC seen inside a string: a backslash ends it.
    StrEsc,
}

impl Scan {
    /// Inside an OSC, DCS, SOS, PM or APC string.
    fn in_string(self) -> bool {
        matches!(self, Scan::Osc | Scan::Str | Scan::StrEsc)
    }

    pub(super) fn next(self, b: u8) -> Scan {
        use Scan::*;
        // CAN and SUB cancel any sequence; ESC starts a new one anywhere but inside a string.
        match (self, b) {
            (Osc | Str | StrEsc, 0x18 | 0x1a) => return Ground,
            (Osc | Str, 0x1b) => return StrEsc,
            (Osc, 0x07) => return Ground,
            (Osc, _) => return Osc,
            (Str, _) => return Str,
            (StrEsc, b'\\') => return Ground,
            (StrEsc, _) => return Esc.next(b),
            (_, 0x18 | 0x1a) => return Ground,
            (_, 0x1b) => return Esc,
            _ => {}
        }
        match self {
            Ground => match b {
                0xc2..=0xdf => Utf8(1),
                0xe0..=0xef => Utf8(2),
                0xf0..=0xf4 => Utf8(3),
                _ => Ground,
            },
            Utf8(n) => match b {
                0x80..=0xbf if n > 1 => Utf8(n - 1),
                0x80..=0xbf => Ground,
                // A broken character: the terminal drops it and takes this byte afresh.
                _ => Ground.next(b),
            },
            Esc => match b {
                b'[' => Csi,
                b']' => Osc,
                b'P' | b'X' | b'^' | b'_' => Str,
                0x20..=0x2f => EscIntermediate,
                0x30..=0x7e => Ground,
                _ => Esc, // C0 controls act and the sequence goes on
            },
            EscIntermediate => match b {
                0x30..=0x7e => Ground,
                _ => EscIntermediate,
            },
            Csi => match b {
                0x40..=0x7e => Ground,
                _ => Csi,
            },
            Osc | Str | StrEsc => unreachable!("handled above"),
        }
    }
}

/// Cuts the output stream at sequence boundaries.
#[derive(Default)]
pub(super) struct Boundary {
    scan: Scan,
    held: Vec<u8>,
    /// Inside a string that was published before its end (it outgrew [`MAX_HELD_BACK`]) and
    /// that the stripping removes: its start went out as CAN, and the rest is dropped up to its
    /// end, so that none of it (a large copy's clipboard write) reaches a guest.
    dropping: bool,
    /// What the host's terminal is shown instead of the last bytes published, when a string in
    /// them was cut or dropped (see [`Boundary::take_uncut`]).
    uncut: Option<Vec<u8>>,
}

impl Boundary {
    /// The bytes that can be published now (what was held back plus the complete part of
    /// `chunk`); the incomplete tail is kept for the next call.
    pub(super) fn complete(&mut self, chunk: &[u8]) -> Option<Bytes> {
        // The host's terminal gets a string cut here whole (see `take_uncut`): what is dropped
        // of it now, and what is published before it is cut.
        let mut uncut = None;
        let chunk = if self.dropping {
            let rest = self.drop_string(chunk);
            uncut = Some(chunk[..chunk.len() - rest.len()].to_vec());
            rest
        } else {
            chunk
        };
        let mut last_ground = None;
        for (i, &b) in chunk.iter().enumerate() {
            self.scan = self.scan.next(b);
            if self.scan == Scan::Ground {
                last_ground = Some(i + 1);
            }
        }
        let cut = match last_ground {
            Some(cut) => cut,
            None if self.held.len() + chunk.len() > MAX_HELD_BACK => chunk.len(),
            None => {
                self.held.extend_from_slice(chunk);
                self.uncut = uncut;
                return None;
            }
        };
        let mut out = std::mem::take(&mut self.held);
        out.extend_from_slice(&chunk[..cut]);
        self.held.extend_from_slice(&chunk[cut..]);
        if self.held.len() > MAX_HELD_BACK {
            out.append(&mut self.held);
        }
        let mut before_cut = None;
        if self.held.is_empty() && self.scan.in_string() {
            // Published inside a string, too long to hold back.
            let before = out.clone();
            self.dropping = super::queries::cut_removed_string(&mut out, self.scan == Scan::StrEsc);
            before_cut = self.dropping.then_some(before);
        }
        self.uncut = match (uncut, before_cut) {
            (None, None) => None,
            (dropped, before) => {
                let mut u = dropped.unwrap_or_default();
                u.extend_from_slice(before.as_deref().unwrap_or(&out));
                Some(u)
            }
        };
        Some(Bytes::from(out))
    }

    /// What the host's terminal is shown in place of what the last [`Boundary::complete`]
    /// published (or held back), when a string in it was cut or dropped for guests: the bytes
    /// as they came, so that the host's own large copy still reaches its clipboard. `None` when
    /// nothing was cut.
    pub(super) fn take_uncut(&mut self) -> Option<Bytes> {
        self.uncut.take().map(Bytes::from)
    }

    /// Drops the bytes of the string being dropped, and returns what follows its end in
    /// `chunk` (nothing if it goes on past `chunk`).
    fn drop_string<'a>(&mut self, chunk: &'a [u8]) -> &'a [u8] {
        for (i, &b) in chunk.iter().enumerate() {
            let before = self.scan;
            self.scan = self.scan.next(b);
            if before == Scan::StrEsc && !matches!(b, b'\\' | 0x18 | 0x1a) {
                // The ESC that ended the string begins the next sequence (another string,
                // maybe): it goes out with it, and `b` is read again after it.
                self.dropping = false;
                self.held.push(0x1b);
                self.scan = Scan::Esc;
                return &chunk[i..];
            }
            if !self.scan.in_string() {
                self.dropping = false;
                return &chunk[i + 1..];
            }
        }
        &[]
    }
}

#[cfg(test)]
mod tests {
    use crate::hub::oracle::join_after;

    /// Found by `cargo fuzz run snapshot`: BEL ends an OSC but is data inside a DCS, so a
    /// snapshot taken after it was taken inside the DCS, and text the DCS swallowed on the
    /// host's terminal showed on the guest's.
    #[test]
    fn regression_bel_inside_dcs_does_not_end_it() {
        let bytes = b"\x1bP\0\0\0(\x07\xff\xf8\n\xf5\x1d\0\0X.XXXX";
        join_after(bytes, 19);
        join_after(b"\x1bP\x07X\x1b\\Y", 3);
    }

    /// Found by `cargo fuzz run snapshot`: a stream that ends inside a sequence (with a control
    /// that acted inside it) is held back until the sequence is done.
    #[test]
    fn regression_stream_ending_inside_a_sequence() {
        join_after(b"\xef\x1b\n\x08", 3);
    }
}
