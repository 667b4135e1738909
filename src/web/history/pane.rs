//! A pane's terminal model, set up as tmux says the pane stands, and tmux's description of it.

use std::num::NonZeroU16;

use super::scrollback::{Kept, Scrollback};

pub(super) struct Pane {
    pub(super) parser: vt100::Parser<Kept>,
    /// "window 0, pane 1", for the page to say which pane it shows.
    pub(super) label: String,
    /// In the session's current window, so on the shared screen: only such panes are shown.
    pub(super) on_screen: bool,
}

impl Pane {
    /// `vs16_wide`: count columns as our tmux does (see `tmux::counts_vs16_wide`).
    pub(super) fn new(info: &PaneInfo, vs16_wide: bool) -> Pane {
        let mut pane = Pane {
            parser: vt100::Parser::new_with_callbacks(
                dim(info.rows),
                dim(info.cols),
                0,
                Kept {
                    kept: Scrollback::default(),
                    cols: info.cols,
                    resizing: false,
                },
            ),
            label: info.label(),
            on_screen: info.on_screen,
        };
        pane.parser.screen_mut().set_vs16_wide(vs16_wide);
        pane
    }

    /// A model for a pane that was there before the share: its screen is unknown (blank), but
    /// the cursor, the scroll region and the alternate screen are where tmux says, so that
    /// what follows scrolls as it does in tmux.
    pub(super) fn at_share_start(info: &PaneInfo, vs16_wide: bool) -> Pane {
        let mut pane = Pane::new(info, vs16_wide);
        let mut setup = String::new();
        if info.alternate {
            if let Some((x, y)) = info.alternate_saved {
                setup += &format!("\x1b[{};{}H", y + 1, x + 1);
            }
            setup += "\x1b[?1049h";
        }
        if info.region != (0, info.rows.saturating_sub(1)) {
            setup += &format!("\x1b[{};{}r", info.region.0 + 1, info.region.1 + 1);
        }
        setup += &format!("\x1b[{};{}H", info.cursor.1 + 1, info.cursor.0 + 1);
        pane.parser.process(setup.as_bytes());
        pane
    }

    pub(super) fn update(&mut self, info: &PaneInfo) {
        self.label = info.label();
        self.on_screen = info.on_screen;
        let (rows, cols) = self.parser.screen().size();
        if (rows.get(), cols.get()) != (info.rows, info.cols) {
            // Rows a shorter pane pushes off keep the old width; later rows have the new one.
            self.parser.callbacks_mut().resizing = true;
            self.parser.set_size(dim(info.rows), dim(info.cols));
            let cb = self.parser.callbacks_mut();
            cb.resizing = false;
            cb.cols = info.cols;
        }
    }
}

pub(super) fn dim(n: u16) -> NonZeroU16 {
    NonZeroU16::new(n).unwrap_or(NonZeroU16::MIN)
}

/// One line of our `list-panes` answer.
#[derive(Debug, PartialEq)]
pub(super) struct PaneInfo {
    pub(super) id: u32,
    pub(super) window: u32,
    pub(super) index: u32,
    pub(super) cols: u16,
    pub(super) rows: u16,
    /// (x, y)
    pub(super) cursor: (u16, u16),
    pub(super) active: bool,
    /// In the session's current window.
    pub(super) on_screen: bool,
    pub(super) alternate: bool,
    pub(super) alternate_saved: Option<(u16, u16)>,
    pub(super) region: (u16, u16),
}

impl PaneInfo {
    pub(super) fn parse(line: &str) -> Option<PaneInfo> {
        let mut f = line.split(' ');
        let id = f.next()?.strip_prefix('%')?.parse().ok()?;
        let mut num = || f.next().and_then(|v| v.parse::<u64>().ok());
        let (window, index) = (num()?, num()?);
        let (cols, rows, x, y) = (num()?, num()?, num()?, num()?);
        let (wa, pa, alt, sx, sy, top, bottom) =
            (num()?, num()?, num()?, num()?, num()?, num()?, num()?);
        let small = |v: u64| u16::try_from(v).ok();
        let cols = small(cols)?.max(1);
        let rows = small(rows)?.max(1);
        let clamp = |v: u64, max: u16| small(v).unwrap_or(max).min(max - 1);
        Some(PaneInfo {
            id,
            window: u32::try_from(window).ok()?,
            index: u32::try_from(index).ok()?,
            cols,
            rows,
            cursor: (clamp(x, cols), clamp(y, rows)),
            active: wa == 1 && pa == 1,
            on_screen: wa == 1,
            alternate: alt == 1,
            // tmux says 4294967295 when nothing is saved.
            alternate_saved: small(sx)
                .zip(small(sy))
                .filter(|&(x, y)| x < cols && y < rows),
            region: (clamp(top, rows), clamp(bottom, rows)),
        })
    }

    pub(super) fn label(&self) -> String {
        format!("window {}, pane {}", self.window, self.index)
    }
}
