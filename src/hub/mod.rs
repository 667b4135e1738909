//! The hub owns the shared screen: the vt100 screen model of the one tmux client, and the
//! broadcast ring that carries its output to every subscriber.
//!
//! It knows nothing of SSH, the web or tmux: a transport subscribes, gets a snapshot that
//! reproduces the current screen and a receiver for every chunk after it, and sends
//! keystrokes to the input queue that `share` hands it. Output is stored once in the ring,
//! whatever the number of subscribers; a subscriber that falls a whole ring behind gets
//! `Lagged` and subscribes again, which repaints it from the model (state, not history).

use std::num::NonZeroU16;
use std::sync::Mutex;

use bytes::Bytes;
use tokio::sync::broadcast;

use crate::size::Size;

/// Chunks kept in the ring for subscribers that are behind. A chunk is one pty read (at most
/// [`crate::pty::READ_CHUNK`] bytes), so the ring holds at most 256 × 32 KiB = 8 MiB, shared by
/// every guest; a guest further behind than that is repainted from the model instead.
pub const RING_CHUNKS: usize = 256;

/// What a subscriber receives, in order.
#[derive(Clone, Debug)]
pub enum Event {
    /// Bytes the tmux client wrote to its terminal.
    Output(Bytes),
    /// The session size changed; a subscriber whose terminal no longer matches should
    /// subscribe again to be repainted at the new size.
    Resized(Size),
}

/// A new subscriber's starting point: `snapshot` reproduces the screen as of the moment of
/// subscription, and `events` carries everything after it, with no gap and no repeat.
pub struct Subscription {
    pub snapshot: Bytes,
    pub events: broadcast::Receiver<Event>,
    pub size: Size,
}

/// The screen model and the ring, behind one lock so that a snapshot and a subscription are
/// taken at the same point of the stream.
pub struct Hub {
    inner: Mutex<Inner>,
}

struct Inner {
    /// Holds back the tail of a read that ends inside an escape sequence or UTF-8 character.
    boundary: Boundary,
    parser: vt100::Parser,
    /// The scroll region, which vt100 tracks but does not expose (see [`RegionTracker`]).
    region: RegionTracker,
    region_parser: vte::Parser,
    tx: broadcast::Sender<Event>,
}

fn nz(v: u16) -> NonZeroU16 {
    NonZeroU16::new(v.max(1)).unwrap_or(NonZeroU16::MIN)
}

impl Hub {
    pub fn new(size: Size) -> Hub {
        Hub {
            inner: Mutex::new(Inner {
                boundary: Boundary::default(),
                parser: vt100::Parser::new(nz(size.rows), nz(size.cols), 0),
                region: RegionTracker::full(size.rows),
                region_parser: vte::Parser::new(),
                tx: broadcast::channel(RING_CHUNKS).0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves a screen that is at worst stale; keep serving.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Feeds one read of the tmux client's output to the model and to every subscriber.
    ///
    /// Only whole escape sequences and characters are published: a read that ends inside one
    /// keeps that tail back until the next read completes it, so that a snapshot is never
    /// taken, and a subscriber never starts, in the middle of a sequence.
    pub fn process(&self, chunk: &[u8]) {
        let mut inner = self.lock();
        let Inner {
            boundary,
            parser,
            region,
            region_parser,
            tx,
        } = &mut *inner;
        let Some(bytes) = boundary.complete(chunk) else {
            return;
        };
        let bytes = strip_queries(bytes);
        parser.process(&bytes);
        region_parser.advance(region, &bytes);
        // No receivers is fine: output is still in the model for whoever joins later.
        let _ = tx.send(Event::Output(bytes));
    }

    /// Changes the model's size. Call before resizing the pty, so that the redraw tmux sends
    /// in answer is parsed at the new size.
    pub fn resize(&self, size: Size) {
        let mut inner = self.lock();
        inner
            .parser
            .screen_mut()
            .set_size(nz(size.rows), nz(size.cols));
        // Terminals reset the scroll region on resize, and tmux forgets the region it set.
        let alt_active = inner.region.alt_active;
        inner.region = RegionTracker::full(size.rows);
        inner.region.alt_active = alt_active;
        let _ = inner.tx.send(Event::Resized(size));
    }

    /// The current size of the model.
    pub fn size(&self) -> Size {
        let (rows, cols) = self.lock().parser.screen().size();
        Size::new(cols.get(), rows.get())
    }

    /// A copy of the current screen (for renderers and tests).
    pub fn screen(&self) -> vt100::Screen {
        self.lock().parser.screen().clone()
    }

    /// Subscribes to the output from now on, with a snapshot of the screen as of now.
    pub fn subscribe(&self) -> Subscription {
        let inner = self.lock();
        let snapshot = snapshot(inner.parser.screen(), &inner.region);
        let (rows, cols) = inner.parser.screen().size();
        Subscription {
            snapshot: Bytes::from(snapshot),
            events: inner.tx.subscribe(),
            size: Size::new(cols.get(), rows.get()),
        }
    }
}

/// Bytes that turn any terminal into `screen`, including the state tmux assumes when it draws
/// incrementally: the alternate screen, the scroll region, the cursor, attributes and input modes.
pub fn snapshot(screen: &vt100::Screen, region: &RegionTracker) -> Vec<u8> {
    let mut out = Vec::with_capacity(8192);
    // RIS: a known starting point (no scroll region, no modes, cursor home, default attributes).
    out.extend_from_slice(b"\x1bc");
    if screen.alternate_screen() {
        // Draw the main screen first, with the cursor and attributes that leaving the alternate
        // screen will restore, then enter it as the program did (no formatted call emits ?1049h).
        draw(&mut out, &replay(screen, b"\x1b[?1049l"), region.main);
        out.extend_from_slice(b"\x1b[?1049h");
        draw(&mut out, screen, region.alt);
    } else {
        draw(&mut out, screen, region.main);
    }
    out
}

/// `screen` after `bytes`, leaving `screen` as it is.
fn replay(screen: &vt100::Screen, bytes: &[u8]) -> vt100::Screen {
    let (rows, cols) = screen.size();
    let mut p = vt100::Parser::new(rows, cols, 0);
    *p.screen_mut() = screen.clone();
    p.process(bytes);
    p.screen().clone()
}

/// One screen's saved cursor (DECSC), contents, cursor, attributes, modes and scroll region.
fn draw(out: &mut Vec<u8>, screen: &vt100::Screen, region: Option<(u16, u16)>) {
    // vt100 does not expose the saved cursor, but restoring it on a copy (DECRC) shows it.
    let saved = replay(screen, b"\x1b8");
    let (row, col) = saved.cursor_position();
    let col = col.min(saved.size().1.get() - 1);
    out.extend_from_slice(format!("\x1b[{};{}H", row + 1, col + 1).as_bytes());
    out.extend_from_slice(saved.attributes_formatted().as_bytes());
    out.extend_from_slice(b"\x1b7");
    out.extend_from_slice(screen.state_formatted().as_bytes());
    if let Some((top, bottom)) = region {
        // Set after drawing the rows (drawing may use line feeds, which would scroll inside a
        // region). DECSTBM homes the cursor, so put it and the attributes back afterwards.
        out.extend_from_slice(format!("\x1b[{};{}r", top + 1, bottom + 1).as_bytes());
        out.extend_from_slice(screen.cursor_state_formatted().as_bytes());
        out.extend_from_slice(screen.attributes_formatted().as_bytes());
    }
}

/// A tail held back longer than this is published anyway: an unterminated string (a broken
/// OSC title, say) must not hold the screen back for good. Tmux's sequences are far shorter.
pub const MAX_HELD_BACK: usize = 4096;

/// Where an ECMA-48 byte stream stands between two reads: in ground state (a sequence or
/// character may start at the next byte) or inside one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Scan {
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
    fn next(self, b: u8) -> Scan {
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
struct Boundary {
    scan: Scan,
    held: Vec<u8>,
}

impl Boundary {
    /// The bytes that can be published now (what was held back plus the complete part of
    /// `chunk`); the incomplete tail is kept for the next call.
    fn complete(&mut self, chunk: &[u8]) -> Option<Bytes> {
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
                return None;
            }
        };
        let mut out = std::mem::take(&mut self.held);
        out.extend_from_slice(&chunk[..cut]);
        self.held.extend_from_slice(&chunk[cut..]);
        if self.held.len() > MAX_HELD_BACK {
            out.append(&mut self.held);
        }
        Some(Bytes::from(out))
    }
}

/// Removes terminal queries (device attributes, status and cursor reports, version, colour,
/// mode and capability requests) from the published stream.
///
/// tmux asks its terminal questions, and the answers come back as input. The host's terminal
/// (in attached mode) sees the raw output and answers; guests must not, or a read-write guest's
/// terminal would type `^[[>84;0;0c` into the shared shell. Queries do not change the screen,
/// so the model loses nothing. Expects complete sequences, as [`Boundary`] publishes them.
pub fn strip_queries(bytes: Bytes) -> Bytes {
    let mut out: Option<Vec<u8>> = None;
    let mut kept = 0; // bytes[..kept] are accounted for in `out`
    let mut i = 0;
    while let Some(off) = bytes[i..].iter().position(|&b| b == 0x1b) {
        let start = i + off;
        let mut scan = Scan::Esc;
        let mut end = start + 1;
        // Where a new sequence begins inside this one, cancelling it.
        let mut cancelled_at = None;
        while end < bytes.len() && scan != Scan::Ground {
            let before = scan;
            scan = scan.next(bytes[end]);
            end += 1;
            if scan == Scan::Esc && bytes[end - 1] == 0x1b {
                cancelled_at = Some(end - 1); // a new ESC
                break;
            }
            if before == Scan::StrEsc && bytes[end - 1] != b'\\' {
                cancelled_at = Some(end - 2); // the ESC inside a string began a new sequence
                break;
            }
        }
        let scan = if cancelled_at.is_some() {
            Scan::Esc
        } else {
            scan
        };
        if scan == Scan::Ground && is_query(&bytes[start..end]) {
            let o = out.get_or_insert_with(|| Vec::with_capacity(bytes.len()));
            o.extend_from_slice(&bytes[kept..start]);
            // In its place, CAN: the query's ESC ended whatever was pending before it (an ESC
            // it cancelled, half a UTF-8 character), and CAN ends it the same way, so that the
            // bytes after it mean the same to guests as to the host's terminal. Elsewhere a
            // terminal ignores CAN.
            o.push(0x18);
            if bytes[start + 1] == b'[' {
                // A control inside a control sequence acts where it stands (a terminal executes
                // it mid-sequence): keep it, drop only the question.
                let seq = &bytes[start..end];
                o.extend(seq.iter().filter(|&&b| b < 0x20 && b != 0x1b));
            }
            kept = end;
        }
        i = cancelled_at.unwrap_or(end.max(start + 1));
    }
    match out {
        None => bytes,
        Some(mut o) => {
            o.extend_from_slice(&bytes[kept..]);
            Bytes::from(o)
        }
    }
}

/// Whether one complete escape sequence asks the terminal for an answer.
fn is_query(seq: &[u8]) -> bool {
    match seq.get(1) {
        Some(b'[') => {
            let (params, fin) = (&seq[2..seq.len() - 1], seq[seq.len() - 1]);
            match fin {
                b'c' => true,                          // DA1, DA2, DA3
                b'n' => true,                          // DSR: status, cursor position
                b'q' => params.first() == Some(&b'>'), // XTVERSION (not DECSCUSR)
                b'p' => params.last() == Some(&b'$'),  // DECRQM
                b'u' => params.first() == Some(&b'?'), // keyboard protocol query
                b't' => matches!(
                    params,
                    b"11" | b"13" | b"14" | b"16" | b"18" | b"19" | b"20" | b"21"
                ), // window reports
                _ => false,
            }
        }
        Some(b']') => {
            // OSC with a "?" argument: colour queries (4, 10-19), clipboard read (52).
            let body = seq[2..]
                .strip_suffix(b"\x07")
                .or_else(|| seq[2..].strip_suffix(b"\x1b\\"))
                .unwrap_or(&seq[2..]);
            body.ends_with(b";?")
        }
        // DCS requests: XTGETTCAP (+q) and DECRQSS ($q).
        Some(b'P') => seq[2..].starts_with(b"+q") || seq[2..].starts_with(b"$q"),
        _ => false,
    }
}

/// Follows the scroll region (DECSTBM) in the output stream, because tmux sets it once and
/// then relies on it: a late joiner whose terminal has a different region would scroll the
/// wrong lines. vt100 applies the region but does not expose it, so this follows the same
/// rules as vt100: one region per screen (main and alternate), reset by an invalid DECSTBM,
/// by entering the alternate screen with 1049, by RIS and by a resize.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionTracker {
    rows: u16,
    alt_active: bool,
    /// 0-based inclusive rows, `None` for the whole screen.
    main: Option<(u16, u16)>,
    alt: Option<(u16, u16)>,
}

impl RegionTracker {
    pub fn full(rows: u16) -> RegionTracker {
        RegionTracker {
            rows,
            alt_active: false,
            main: None,
            alt: None,
        }
    }

    /// The region of the screen in use, when it is not the whole screen.
    pub fn custom(&self) -> Option<(u16, u16)> {
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

/// Who typed an input chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Host,
    Guest(u64),
}

/// A chunk of keystrokes on its way to the pty, written whole.
pub struct Input {
    pub from: Source,
    pub bytes: Bytes,
}

impl AsRef<[u8]> for Input {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

/// The hub's invariant, as a check that tests and the fuzz target `snapshot` share: the screen
/// of a terminal that saw all of `bytes`, and the screen of a guest that joined after
/// `bytes[..at]` (its snapshot, then everything published after it), at `size`.
///
/// The hub holds back an unfinished sequence until it completes (tmux always completes them);
/// a stream that ends inside one is completed here by CAN, which cancels any sequence, as
/// tmux's next bytes would. Until then the host's terminal may have acted on a control inside
/// it (LF after ESC) that guests see a moment later.
pub fn host_and_joiner(size: Size, bytes: &[u8], at: usize) -> (vt100::Screen, vt100::Screen) {
    let hub = Hub::new(size);
    hub.process(&bytes[..at]);
    let mut sub = hub.subscribe();
    hub.process(&bytes[at..]);
    hub.process(b"\x18");
    let mut stream = sub.snapshot.to_vec();
    while let Ok(Event::Output(b)) = sub.events.try_recv() {
        stream.extend_from_slice(&b);
    }
    let terminal = |b: &[u8]| {
        let mut p = vt100::Parser::new(nz(size.rows), nz(size.cols), 0);
        p.process(b);
        p.screen().clone()
    };
    (terminal(&[bytes, b"\x18"].concat()), terminal(&stream))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(size: Size, bytes: &[u8]) -> vt100::Parser {
        let mut p = vt100::Parser::new(nz(size.rows), nz(size.cols), 0);
        p.process(bytes);
        p
    }

    /// Compares two screens cell by cell (contents and attributes), and the cursor and modes.
    fn assert_same_screen(a: &vt100::Screen, b: &vt100::Screen) -> Result<(), TestCaseError> {
        prop_assert_eq!(a.size(), b.size());
        let (rows, cols) = a.size();
        for r in 0..rows.get() {
            for c in 0..cols.get() {
                let (x, y) = (a.cell(r, c).unwrap(), b.cell(r, c).unwrap());
                // A written space and a never-written cell look the same.
                let text = |c: &vt100::Cell| {
                    if c.contents().is_empty() {
                        " ".to_owned()
                    } else {
                        c.contents().to_owned()
                    }
                };
                prop_assert_eq!(
                    (
                        text(x),
                        x.fgcolor(),
                        x.bgcolor(),
                        x.bold(),
                        x.italic(),
                        x.underline(),
                        x.inverse(),
                        x.dim()
                    ),
                    (
                        text(y),
                        y.fgcolor(),
                        y.bgcolor(),
                        y.bold(),
                        y.italic(),
                        y.underline(),
                        y.inverse(),
                        y.dim()
                    ),
                    "cell {},{}",
                    r,
                    c
                );
            }
        }
        prop_assert_eq!(a.cursor_position(), b.cursor_position());
        prop_assert_eq!(a.hide_cursor(), b.hide_cursor());
        prop_assert_eq!(a.alternate_screen(), b.alternate_screen());
        prop_assert_eq!(a.application_cursor(), b.application_cursor());
        prop_assert_eq!(a.application_keypad(), b.application_keypad());
        prop_assert_eq!(a.bracketed_paste(), b.bracketed_paste());
        prop_assert_eq!(a.mouse_protocol_mode(), b.mouse_protocol_mode());
        prop_assert_eq!(a.attributes_formatted(), b.attributes_formatted());
        Ok(())
    }

    /// Terminal output that exercises what tmux sends: text, colours, cursor moves, erases,
    /// scroll regions and scrolling, the alternate screen, modes, wide characters.
    fn terminal_bytes() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            "[a-z0-9 ]{1,12}".prop_map(|s| s.into_bytes()),
            Just(b"\r\n".to_vec()),
            Just(b"\n".to_vec()),
            Just("界😀é".as_bytes().to_vec()),
            (1u8..30, 1u8..90).prop_map(|(r, c)| format!("\x1b[{r};{c}H").into_bytes()),
            (0u8..8, 0u8..8).prop_map(|(f, b)| format!("\x1b[3{f};4{b}m").into_bytes()),
            (0u8..=255).prop_map(|i| format!("\x1b[38;5;{i}m").into_bytes()),
            prop_oneof![
                Just("\x1b[1m"),
                Just("\x1b[3m"),
                Just("\x1b[4m"),
                Just("\x1b[7m"),
                Just("\x1b[2m"),
                Just("\x1b[m")
            ]
            .prop_map(|s| s.as_bytes().to_vec()),
            (1u8..20, 2u8..30).prop_map(|(t, b)| format!("\x1b[{t};{b}r").into_bytes()),
            Just(b"\x1b[r".to_vec()),
            prop_oneof![
                Just("\x1b[K"),
                Just("\x1b[J"),
                Just("\x1b[2J"),
                Just("\x1b[1K"),
                Just("\x1bM"),
                Just("\x1b[3L"),
                Just("\x1b[2M"),
                Just("\x1b[2S"),
                Just("\x1b[P"),
                Just("\x1b[4@")
            ]
            .prop_map(|s| s.as_bytes().to_vec()),
            prop_oneof![
                Just("\x1b[?1049h"),
                Just("\x1b7"),
                Just("\x1b8"),
                Just("\x1b[?1049l"),
                Just("\x1b[?25l"),
                Just("\x1b[?25h"),
                Just("\x1b[?1h"),
                Just("\x1b="),
                Just("\x1b>"),
                Just("\x1b[?2004h"),
                Just("\x1b[?1000h"),
                Just("\x1b[?1006h")
            ]
            .prop_map(|s| s.as_bytes().to_vec()),
        ];
        prop::collection::vec(piece, 0..80).prop_map(|v| v.concat())
    }

    proptest! {
        /// The hub invariant: for any output cut into chunks at any points, a subscriber that
        /// joins after any chunk, applies the snapshot and then every later chunk, ends with
        /// exactly the screen of a terminal that saw everything from the start.
        #[test]
        fn join_at_any_point_gives_the_hosts_screen(
            bytes in terminal_bytes(),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
            join in any::<prop::sample::Index>(),
        ) {
            let size = Size::new(40, 12);
            let mut points: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
            points.extend([0, bytes.len()]);
            points.sort_unstable();
            points.dedup();
            let chunks: Vec<&[u8]> = points.windows(2).map(|w| &bytes[w[0]..w[1]]).collect();
            let join_at = join.index(chunks.len() + 1);

            let hub = Hub::new(size);
            let mut guest = None;
            for (i, chunk) in chunks.iter().enumerate() {
                if i == join_at { guest = Some(hub.subscribe()); }
                hub.process(chunk);
            }
            let mut sub = guest.unwrap_or_else(|| hub.subscribe());
            let mut stream = sub.snapshot.to_vec();
            while let Ok(Event::Output(b)) = sub.events.try_recv() { stream.extend_from_slice(&b); }

            let host = parse(size, &bytes);
            let joiner = parse(size, &stream);
            assert_same_screen(host.screen(), joiner.screen())?;
            assert_same_screen(&hub.screen(), host.screen())?;
        }

        /// After the snapshot, more output that scrolls inside the region lands where it
        /// does on the host: the region itself was reproduced.
        #[test]
        fn scroll_region_survives_a_join(top in 1u16..6, bottom in 7u16..12, lines in 1usize..30) {
            let size = Size::new(20, 12);
            let hub = Hub::new(size);
            let setup = format!("\x1b[?1049h\x1b[2J\x1b[{top};{bottom}r\x1b[{bottom};1H");
            hub.process(setup.as_bytes());
            let mut sub = hub.subscribe();
            let mut after = Vec::new();
            for i in 0..lines { after.extend_from_slice(format!("\r\nline {i}").as_bytes()); }
            hub.process(&after);
            let mut stream = sub.snapshot.to_vec();
            while let Ok(Event::Output(b)) = sub.events.try_recv() { stream.extend_from_slice(&b); }
            let host = parse(size, &[setup.as_bytes(), &after].concat());
            assert_same_screen(host.screen(), parse(size, &stream).screen())?;
        }
    }

    /// A guest joining after `bytes[..at]` ends with the screen of a terminal that saw all of
    /// `bytes` (see `host_and_joiner`).
    fn join_after(bytes: &[u8], at: usize) {
        let (host, guest) = host_and_joiner(Size::new(40, 12), bytes, at);
        assert_eq!(host.contents(), guest.contents());
        assert_eq!(host.cursor_position(), guest.cursor_position());
    }

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

    /// Found by `cargo fuzz run snapshot`: a query stripped from the stream (DSR, `CSI 2 n`)
    /// took a backspace inside it along, which the host's terminal had acted on.
    /// Found by `cargo fuzz run snapshot`: a query right after an ESC that it cancelled was
    /// stripped, and the dangling ESC met the next byte instead (ESC c, a reset).
    #[test]
    fn regression_a_stripped_query_still_cancels_what_was_pending() {
        let mut bytes = b"\0>\x1b\x1e\x1b[%/\0\x19\0cccccccccc\0\0".to_vec();
        bytes.extend_from_slice(b"\xbe\xbe\xbe\xbe\xbe\0\0\x004\x1b\\\0");
        join_after(&bytes, 1);
        join_after(b"ab\xe4\x1b[cde", 0);
    }

    /// Found by `cargo fuzz run snapshot`: a DCS query cut short by an ESC that began another
    /// sequence was stripped together with that sequence (and the line feed inside it).
    #[test]
    fn regression_a_query_cut_short_is_not_stripped_with_what_follows() {
        let mut bytes =
            b"\x80\xff\xff\xff\xff)R\"\xbf\x1bP+q?\0\n\x1b\x88[4\n\x82m$q\xef\x08\xff?$".to_vec();
        bytes.extend_from_slice(b"\x1b\x88[4\n\x82m$q\xef\x08\xff?$");
        join_after(&bytes, 0);
        join_after(b"a\x1bP+q\x1b[1mb\x1b\\c", 0);
        // The same, where the new sequence is one byte long (ESC M, reverse index).
        join_after(b"((\x1bP$q\x0f!!\x19\x19]\xd0\xd4\xd0\0\x1bMMMM]", 0);
    }

    #[test]
    fn regression_controls_inside_a_stripped_query_still_act() {
        let bytes = b"\xb6\x010\x1b[2\0\x08\0\x8e\xff\xe4\xa4\xcd\xbfn\x10\xfe\x1f/";
        join_after(bytes, 0);
    }

    #[test]
    fn terminal_queries_are_not_published() {
        let strip = |b: &[u8]| strip_queries(Bytes::copy_from_slice(b)).to_vec();
        let queries: &[&[u8]] = &[
            b"\x1b[c",
            b"\x1b[>c",
            b"\x1b[>0c",
            b"\x1b[5n",
            b"\x1b[6n",
            b"\x1b[>q",
            b"\x1b[?2026$p",
            b"\x1b[?u",
            b"\x1b[14t",
            b"\x1b]10;?\x1b\\",
            b"\x1b]11;?\x07",
            b"\x1b]4;1;?\x07",
            b"\x1b]52;c;?\x07",
            b"\x1bP+q544e\x1b\\",
            b"\x1bP$qm\x1b\\",
        ];
        for q in queries {
            let with = [b"ab".as_slice(), q, b"\x1b[1mcd"].concat();
            assert_eq!(
                strip(&with),
                b"ab\x18\x1b[1mcd",
                "{:?}",
                String::from_utf8_lossy(q)
            );
        }
        // Drawing sequences that look alike stay.
        for keep in [
            &b"\x1b[2 q"[..],
            b"\x1b[22;0t",
            b"\x1b]0;title\x07",
            b"\x1bc",
            b"\x1b[1;24r",
            b"\x1b[?25h",
        ] {
            let with = [b"x".as_slice(), keep, b"y"].concat();
            assert_eq!(strip(&with), with);
        }
        assert_eq!(strip(b"\x1b[>c\x1b[>c"), b"\x18\x18");
    }

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

    #[test]
    fn lagging_subscriber_is_told_and_resubscribes_to_the_present() {
        let hub = Hub::new(Size::new(20, 5));
        let mut sub = hub.subscribe();
        for i in 0..RING_CHUNKS + 10 {
            hub.process(format!("\r\n{i}").as_bytes());
        }
        assert!(matches!(
            sub.events.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(_))
        ));
        let again = hub.subscribe();
        let screen = parse(Size::new(20, 5), &again.snapshot);
        assert!(screen
            .screen()
            .contents()
            .contains(&format!("{}", RING_CHUNKS + 9)));
    }
}
