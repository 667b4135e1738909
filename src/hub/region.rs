//! The scroll-region tracker: the one piece of terminal state that tmux relies on and the
//! screen model keeps to itself.

/// Follows the scroll region (DECSTBM) in the output stream, because tmux sets it once and
/// then relies on it: a late joiner whose terminal has a different region would scroll the
/// wrong lines. vt100 applies the region but does not expose it, so this follows the same
/// rules as vt100: one region per screen (main and alternate), reset by an invalid DECSTBM,
/// by entering the alternate screen with 1049, by RIS and by a resize.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct RegionTracker {
    rows: u16,
    alt_active: bool,
    /// The main screen's region: 0-based inclusive rows, `None` for the whole screen.
    pub(super) main: Option<(u16, u16)>,
    /// The alternate screen's region, likewise.
    pub(super) alt: Option<(u16, u16)>,
}

impl RegionTracker {
    pub(super) fn full(rows: u16) -> RegionTracker {
        RegionTracker {
            rows,
            alt_active: false,
            main: None,
            alt: None,
        }
    }

    /// Both regions back to the whole screen at a new height, on the screen in use: terminals
    /// reset the scroll region on resize, and tmux forgets the region it set.
    pub(super) fn resize(&mut self, rows: u16) {
        *self = RegionTracker {
            alt_active: self.alt_active,
            ..RegionTracker::full(rows)
        };
    }

    /// The region of the screen in use, when it is not the whole screen.
    #[cfg(test)]
    fn custom(&self) -> Option<(u16, u16)> {
        if self.alt_active {
            self.alt
        } else {
            self.main
        }
    }

    fn active(&mut self) -> &mut Option<(u16, u16)> {
        if self.alt_active {
            &mut self.alt
        } else {
            &mut self.main
        }
    }
}

impl vte::Perform for RegionTracker {
    fn csi_dispatch(
        &mut self,
        params: &vte::Params,
        intermediates: &[u8],
        ignore: bool,
        action: char,
    ) {
        if ignore {
            return;
        }
        let mut values = params.iter().map(|p| p.first().copied().unwrap_or(0));
        match (intermediates, action) {
            ([], 'r') => {
                let top = values.next().unwrap_or(0).max(1) - 1;
                let bottom = match values.next().unwrap_or(0) {
                    0 => self.rows,
                    b => b,
                }
                .min(self.rows)
                .saturating_sub(1);
                let rows = self.rows;
                *self.active() = (top < bottom && (top, bottom) != (0, rows.saturating_sub(1)))
                    .then_some((top, bottom));
            }
            ([b'?'], 'h' | 'l') => {
                let set = action == 'h';
                for mode in values {
                    match mode {
                        1049 => {
                            if set {
                                self.alt = None; // the alternate grid is cleared
                            }
                            self.alt_active = set;
                        }
                        47 => self.alt_active = set,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }

    fn esc_dispatch(&mut self, intermediates: &[u8], _ignore: bool, byte: u8) {
        if intermediates.is_empty() && byte == b'c' {
            *self = RegionTracker::full(self.rows);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RegionTracker;

    #[test]
    fn region_tracker_follows_decstbm_and_reset() {
        let mut t = RegionTracker::full(24);
        let mut p = vte::Parser::new();
        p.advance(&mut t, b"\x1b[2;10r");
        assert_eq!(t.custom(), Some((1, 9)));
        p.advance(&mut t, b"\x1b[?5r"); // private mode restore, not DECSTBM
        assert_eq!(t.custom(), Some((1, 9)));
        p.advance(&mut t, b"\x1b[r");
        assert_eq!(t.custom(), None);
        p.advance(&mut t, b"\x1b[3;");
        p.advance(&mut t, b"5r"); // split across chunks
        assert_eq!(t.custom(), Some((2, 4)));
        p.advance(&mut t, b"\x1bc");
        assert_eq!(t.custom(), None);
    }
}
