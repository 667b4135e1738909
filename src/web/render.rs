//! The web viewer's renderer: a hub subscriber that turns the screen model into frames of rows
//! of styled runs, at most [`FRAME_RATE`] a second under a flood (a change after a quiet moment
//! goes out at once: [`FrameBudget`]), each encoded once for every viewer.
//!
//! A frame carries the rows that changed since the previous frame (`delta`) and, for viewers
//! that missed frames or just connected, every row (`full`). Frames are published on a watch
//! channel, which holds only the latest: a slow viewer skips to the present, and costs one
//! shared frame of memory, not a queue.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, watch};
use tokio::time::Instant;
use tokio_util::task::TaskTracker;

use super::outlet::Wire;
use crate::hub::{Event, Hub};
use crate::shutdown::Shutdown;

/// Frames per second at most: smooth to the eye, and a bound on the work per viewer.
pub const FRAME_RATE: u32 = 30;
const FRAME_INTERVAL: Duration = Duration::from_nanos(1_000_000_000 / FRAME_RATE as u64);

/// One rendered state of the screen, encoded as the JSON messages the page reads.
pub struct Frame {
    /// Counts frames from 1; a viewer whose last frame is `seq - 1` can apply `delta`.
    pub seq: u64,
    /// Encoded once as WebSocket messages, and written as they are to every viewer.
    pub delta: Wire,
    pub full: Wire,
}

impl Frame {
    /// The message for a viewer whose last frame was `last`.
    pub fn message_after(&self, last: Option<u64>) -> &Wire {
        if last.is_some_and(|l| l + 1 == self.seq) {
            &self.delta
        } else {
            &self.full
        }
    }
}

/// Renders frames until the shutdown. Returns the receiver viewers clone.
pub fn start(
    hub: Arc<Hub>,
    shutdown: Shutdown,
    tasks: &TaskTracker,
) -> watch::Receiver<Arc<Frame>> {
    let mut renderer = Renderer::default();
    // Subscribe before the first render, so nothing between the two is missed.
    let events = hub.subscribe().events;
    let (tx, rx) = watch::channel(renderer.render(&hub.screen()));
    tasks.spawn(run(renderer, hub, events, tx, shutdown));
    rx
}

async fn run(
    mut renderer: Renderer,
    hub: Arc<Hub>,
    mut events: broadcast::Receiver<Event>,
    tx: watch::Sender<Arc<Frame>>,
    mut shutdown: Shutdown,
) {
    let mut budget = FrameBudget::new(Instant::now());
    loop {
        // Wait for a change (output, a resize, or a gap: all mean "the screen may differ").
        tokio::select! {
            r = events.recv() => if let Err(broadcast::error::RecvError::Closed) = r { return },
            _ = shutdown.wait() => return,
        }
        // At once when the budget allows (a change after a quiet spell, or soon after a lone
        // frame such as a status-line redraw); otherwise coalesced until it does.
        // (No sleep at all when a frame may go now: the timer would round up to its next tick.)
        if let Some(at) = budget.next_frame(Instant::now()) {
            tokio::time::sleep_until(at).await;
        }
        while let Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) = events.try_recv() {}
        budget.spend(Instant::now());
        tx.send_replace(renderer.render(&hub.screen()));
    }
}

/// Frames that may go out at once after a quiet spell. A lone frame (tmux redrawing its status
/// line, a clock) must not make the next change wait a whole interval; a flood still gets
/// [`FRAME_RATE`] frames a second once this is spent.
const FRAME_BURST: f64 = 3.0;

/// A token bucket of frames: refills at [`FRAME_RATE`] a second, up to [`FRAME_BURST`].
struct FrameBudget {
    tokens: f64,
    at: Instant,
}

impl FrameBudget {
    fn new(now: Instant) -> FrameBudget {
        FrameBudget {
            tokens: FRAME_BURST,
            at: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let earned = now.duration_since(self.at).as_secs_f64() * f64::from(FRAME_RATE);
        self.tokens = (self.tokens + earned).min(FRAME_BURST);
        self.at = now;
    }

    /// When the next frame may go out, asked at `now`; `None`: now, a whole token is left.
    fn next_frame(&mut self, now: Instant) -> Option<Instant> {
        self.refill(now);
        (self.tokens < 1.0).then(|| now + FRAME_INTERVAL.mul_f64(1.0 - self.tokens))
    }

    fn spend(&mut self, now: Instant) {
        self.refill(now);
        self.tokens -= 1.0;
    }
}

/// Remembers the rows of the previous frame, to send only what changed.
#[derive(Default)]
struct Renderer {
    seq: u64,
    rows: Vec<String>,
}

impl Renderer {
    fn render(&mut self, screen: &vt100::Screen) -> Arc<Frame> {
        self.seq += 1;
        let (rows, cols) = screen.size();
        let (rows, cols) = (rows.get(), cols.get());
        let new_rows: Vec<String> = (0..rows).map(|r| encode_row(screen, r, cols)).collect();
        let (cr, cc) = screen.cursor_position();
        let head = |full: bool| {
            format!(
                r#"{{"type":"frame","seq":{},"full":{full},"cols":{cols},"rows":{rows},"cursor":{{"r":{cr},"c":{cc},"v":{}}},"alt":{},"lines":["#,
                self.seq,
                !screen.hide_cursor(),
                screen.alternate_screen(),
            )
        };
        let mut full = head(true);
        let mut delta = head(false);
        let mut first_delta = true;
        for (i, row) in new_rows.iter().enumerate() {
            if i > 0 {
                full.push(',');
            }
            let _ = write!(full, "[{i},{row}]");
            if self.rows.get(i) != Some(row) || self.rows.len() != new_rows.len() {
                if !first_delta {
                    delta.push(',');
                }
                first_delta = false;
                let _ = write!(delta, "[{i},{row}]");
            }
        }
        full.push_str("]}");
        delta.push_str("]}");
        self.rows = new_rows;
        Arc::new(Frame {
            seq: self.seq,
            delta: Wire::text(delta),
            full: Wire::text(full),
        })
    }
}

/// The style of a cell, as the page applies it.
#[derive(Clone, Copy, PartialEq)]
struct Style {
    fg: vt100::Color,
    bg: vt100::Color,
    underline_colour: vt100::Color,
    underline: vt100::UnderlineStyle,
    bold: bool,
    dim: bool,
    italic: bool,
    inverse: bool,
    blink: bool,
    strikethrough: bool,
    overline: bool,
    /// Drawn in a box of its own, one or two columns wide (see [`own_box`]).
    wide: bool,
    boxed: bool,
}

impl Style {
    fn of(cell: &vt100::Cell) -> Style {
        Style {
            fg: cell.fgcolor(),
            bg: cell.bgcolor(),
            underline_colour: cell.underline_color(),
            underline: cell.underline_style(),
            bold: cell.bold(),
            dim: cell.dim(),
            italic: cell.italic(),
            inverse: cell.inverse(),
            blink: cell.blink(),
            strikethrough: cell.strikethrough(),
            overline: cell.overline(),
            wide: cell.is_wide(),
            boxed: own_box(cell.contents()),
        }
    }

    const PLAIN: Style = Style {
        fg: vt100::Color::Default,
        bg: vt100::Color::Default,
        underline_colour: vt100::Color::Default,
        underline: vt100::UnderlineStyle::None,
        bold: false,
        dim: false,
        italic: false,
        inverse: false,
        blink: false,
        strikethrough: false,
        overline: false,
        wide: false,
        boxed: false,
    };
}

/// Whether a cell's text gets a box of its own on the page, one column wide, rather than
/// running on with its neighbours: anything but a single character of the scripts a monospace
/// font draws at one column and left to right (Latin, Greek, Cyrillic, box drawing and
/// blocks). In a box of its own, text can neither be reordered (right-to-left scripts), nor
/// shaped with its neighbours (Arabic), nor push the next columns along (a fallback font's
/// other width, an emoji, a combining sequence): the page stays a grid, like a terminal.
fn own_box(text: &str) -> bool {
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => !(c < '\u{0590}' || ('\u{2500}'..='\u{259f}').contains(&c)),
        (None, _) => false,
        _ => true,
    }
}

/// The underline style as the page's `u` key: 1 single, 2 double, 3 curly, 4 dotted, 5 dashed.
fn underline_code(u: vt100::UnderlineStyle) -> Option<u8> {
    use vt100::UnderlineStyle as U;
    match u {
        U::None => None,
        U::Single => Some(1),
        U::Double => Some(2),
        U::Curly => Some(3),
        U::Dotted => Some(4),
        U::Dashed => Some(5),
    }
}

/// One row as a JSON array of runs: `{"t":text,"fg":..,"bg":..,"uc":..,"u":1-5,"b":1,"d":1,
/// "i":1,"v":1,"k":1,"s":1,"o":1,"w":1,"c":1}`, where a colour is an index (0-255) or
/// "#rrggbb", and absent means the default; `u` is the underline style (1 single, 2 double,
/// 3 curly, 4 dotted, 5 dashed), `uc` its colour, `v` inverse, `k` blink, `s` strikethrough,
/// `o` overline. A wide character is a run of its own with `"w":1`, so the page can give it
/// two columns; a character that must not run on with its neighbours (see [`own_box`]) is a
/// run of its own with `"c":1`. Concealed text is sent as blanks: what the terminal hides
/// never reaches the page. Trailing blank cells in the default style are left out.
pub(super) fn encode_row(screen: &vt100::Screen, row: u16, cols: u16) -> String {
    let mut runs: Vec<(Style, String)> = Vec::new();
    for col in 0..cols {
        let Some(cell) = screen.cell(row, col) else {
            break;
        };
        if cell.is_wide_continuation() {
            continue;
        }
        let style = Style::of(cell);
        let text = match cell.contents() {
            "" => " ",
            _ if cell.concealed() => {
                if cell.is_wide() {
                    "  "
                } else {
                    " "
                }
            }
            t => t,
        };
        match runs.last_mut() {
            Some((s, t)) if *s == style && !style.wide && !style.boxed => t.push_str(text),
            _ => runs.push((style, text.to_owned())),
        }
    }
    if let Some((s, t)) = runs.last_mut() {
        if *s == Style::PLAIN {
            let kept = t.trim_end_matches(' ').len();
            t.truncate(kept);
        }
    }
    let mut out = String::from("[");
    for (i, (s, t)) in runs.iter().filter(|(_, t)| !t.is_empty()).enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{{\"t\":{}", serde_json::Value::from(t.as_str()));
        colour(&mut out, "fg", s.fg);
        colour(&mut out, "bg", s.bg);
        colour(&mut out, "uc", s.underline_colour);
        if let Some(u) = underline_code(s.underline) {
            let _ = write!(out, ",\"u\":{u}");
        }
        for (on, key) in [
            (s.bold, "b"),
            (s.dim, "d"),
            (s.italic, "i"),
            (s.inverse, "v"),
            (s.blink, "k"),
            (s.strikethrough, "s"),
            (s.overline, "o"),
            (s.wide, "w"),
            (s.boxed && !s.wide, "c"),
        ] {
            if on {
                let _ = write!(out, ",\"{key}\":1");
            }
        }
        out.push('}');
    }
    out.push(']');
    out
}

fn colour(out: &mut String, key: &str, c: vt100::Color) {
    match c {
        vt100::Color::Default => {}
        vt100::Color::Idx(i) => {
            let _ = write!(out, ",\"{key}\":{i}");
        }
        vt100::Color::Rgb(r, g, b) => {
            let _ = write!(out, ",\"{key}\":\"#{r:02x}{g:02x}{b:02x}\"");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The renderer's loop in virtual time, for changes every `every` from `start` until
    /// `end`: when each frame goes out, and how long the change that woke it waited.
    fn frames(every: Duration, until: Duration) -> Vec<(Duration, Duration)> {
        let start = Instant::now();
        let mut b = FrameBudget::new(start);
        let (mut out, mut t, mut i) = (Vec::new(), start, 0u32);
        while every * i <= until {
            let change = start + every * i;
            let now = change.max(t);
            let at = b.next_frame(now).unwrap_or(now);
            b.spend(at);
            out.push((at - start, at - change));
            // Every change up to the frame is in it.
            i = ((at - start).as_nanos() / every.as_nanos()) as u32 + 1;
            t = at;
        }
        out
    }

    #[test]
    fn a_flood_gets_at_most_the_frame_rate_and_a_lone_change_goes_at_once() {
        // A change every millisecond for ten seconds: the frame rate, plus the first burst.
        let flood = frames(Duration::from_millis(1), Duration::from_secs(10));
        let n = flood.len() as u32;
        assert!(n <= 10 * FRAME_RATE + FRAME_BURST as u32, "{n} frames");
        assert!(n >= 10 * FRAME_RATE - 1, "{n} frames");
        // In any second of it, at most the frame rate plus the burst.
        for w in flood.windows((FRAME_RATE + FRAME_BURST as u32 + 1) as usize) {
            assert!(w[w.len() - 1].0 - w[0].0 >= Duration::from_secs(1) - FRAME_INTERVAL);
        }
        // A lone frame (a status-line redraw), then a keystroke's echo 5 ms later, after a
        // quiet spell: neither waits for a frame interval.
        let pair = frames(Duration::from_millis(5), Duration::from_millis(5));
        assert_eq!(pair.len(), 2);
        assert!(
            pair.iter().all(|&(_, waited)| waited == Duration::ZERO),
            "{pair:?}"
        );
    }

    fn screen(bytes: &[u8]) -> vt100::Screen {
        let mut p = vt100::Parser::new(
            std::num::NonZeroU16::new(4).unwrap(),
            std::num::NonZeroU16::new(20).unwrap(),
            0,
        );
        p.process(bytes);
        p.screen().clone()
    }

    #[test]
    fn rows_are_runs_of_styled_text() {
        let s = screen("a\x1b[31mred\x1b[1;48;5;200mX\x1b[38;2;1;2;3mY\x1b[m 界z".as_bytes());
        assert_eq!(
            encode_row(&s, 0, 20),
            r##"[{"t":"a"},{"t":"red","fg":1},{"t":"X","fg":1,"bg":200,"b":1},{"t":"Y","fg":"#010203","bg":200,"b":1},{"t":" "},{"t":"界","w":1},{"t":"z"}]"##
        );
        assert_eq!(encode_row(&s, 1, 20), "[]");
    }

    #[test]
    fn every_attribute_reaches_the_page_and_concealed_text_does_not() {
        let s = screen(
            "\x1b[1;2ma\x1b[0;5;9;53mb\x1b[0;4:3;58;5;196mc\x1b[0;8;31msecret\x1b[0;21md"
                .as_bytes(),
        );
        assert_eq!(
            encode_row(&s, 0, 20),
            r##"[{"t":"a","b":1,"d":1},{"t":"b","k":1,"s":1,"o":1},{"t":"c","uc":196,"u":3},{"t":"      ","fg":1},{"t":"d","u":2}]"##
        );
    }

    #[test]
    fn right_to_left_and_combined_text_keeps_its_columns() {
        let s = screen("ab שלום e\u{301}1\u{fe0f}\u{20e3}".as_bytes());
        assert_eq!(
            encode_row(&s, 0, 20),
            "[{\"t\":\"ab \"},{\"t\":\"ש\",\"c\":1},{\"t\":\"ל\",\"c\":1},{\"t\":\"ו\",\"c\":1},\
             {\"t\":\"ם\",\"c\":1},{\"t\":\" \"},{\"t\":\"e\u{301}\",\"c\":1},\
             {\"t\":\"1\u{fe0f}\u{20e3}\",\"w\":1}]"
        );
    }

    #[test]
    fn frames_carry_only_changed_rows_and_a_full_copy() {
        let text = |w: &Wire| String::from_utf8(w.payload().to_vec()).unwrap();
        let mut r = Renderer::default();
        let first = r.render(&screen(b"one\r\ntwo"));
        assert!(text(&first.full).contains(r#"[1,[{"t":"two"}]]"#));
        let second = r.render(&screen(b"one\r\nTWO"));
        assert_eq!(second.seq, 2);
        let delta = text(&second.delta);
        assert!(delta.contains(r#""lines":[[1,[{"t":"TWO"}]]]"#), "{delta}");
        assert!(text(&second.full).contains(r#"[0,[{"t":"one"}]]"#));
        assert_eq!(text(second.message_after(Some(1))), delta);
        assert_eq!(text(second.message_after(None)), text(&second.full));
        assert_eq!(text(second.message_after(Some(0))), text(&second.full));
        for f in [&first, &second] {
            serde_json::from_str::<serde_json::Value>(&text(&f.full)).unwrap();
            serde_json::from_str::<serde_json::Value>(&text(&f.delta)).unwrap();
        }
    }
}
