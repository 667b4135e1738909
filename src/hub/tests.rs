//! The hub's contract, tested through `Hub` alone: a subscriber that joins at any point ends
//! with the host's screen, and one that lags is told so and joins again from the model.

use proptest::prelude::*;
use tokio::sync::broadcast;

use super::oracle::{assert_same_screen, look, parse};
use super::{Event, Hub, RING_CHUNKS};
use crate::size::Size;

/// Terminal output that exercises what tmux sends: text, colours, cursor moves, erases,
/// scroll regions and scrolling, the alternate screen, modes, wide characters.
pub(super) fn terminal_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        "[a-z0-9 ]{1,12}".prop_map(|s| s.into_bytes()),
        Just(b"\r\n".to_vec()),
        Just(b"\n".to_vec()),
        Just("界😀é".as_bytes().to_vec()),
        // Combining and emoji presentation; emoji joined by ZWJ are tested apart (below): a
        // cluster whose halves are drawn in another order than left to right cannot be drawn
        // again by any terminal that joins them, and tmux never draws one so.
        Just("e\u{301} 1\u{fe0f}\u{20e3}".as_bytes().to_vec()),
        (1u8..30, 1u8..90).prop_map(|(r, c)| format!("\x1b[{r};{c}H").into_bytes()),
        (0u8..8, 0u8..8).prop_map(|(f, b)| format!("\x1b[3{f};4{b}m").into_bytes()),
        (0u8..=255).prop_map(|i| format!("\x1b[38;5;{i}m").into_bytes()),
        prop_oneof![
            Just("\x1b[1m"),
            Just("\x1b[3m"),
            Just("\x1b[4m"),
            Just("\x1b[7m"),
            Just("\x1b[2m"),
            Just("\x1b[m"),
            Just("\x1b[22m"),
            Just("\x1b[5;8;9;53m"),
            Just("\x1b[25;28;29;55m"),
            Just("\x1b[4:3;58:2::9:8:7m"),
            Just("\x1b[21;58;5;196m"),
            Just("\x1b[24;59m")
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

/// `bytes` cut into chunks at `cuts`, and after which chunk a subscriber joins.
pub(super) fn cut<'a>(
    bytes: &'a [u8],
    cuts: &[prop::sample::Index],
    join: prop::sample::Index,
) -> (Vec<&'a [u8]>, usize) {
    let mut points: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
    points.extend([0, bytes.len()]);
    points.sort_unstable();
    points.dedup();
    let chunks: Vec<&[u8]> = points.windows(2).map(|w| &bytes[w[0]..w[1]]).collect();
    let join_at = join.index(chunks.len() + 1);
    (chunks, join_at)
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
        let (chunks, join_at) = cut(&bytes, &cuts, join);

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
}

/// Emoji joined by zero width joiners, drawn as tmux draws them (the cluster growing in place,
/// the line then going on), reach a subscriber joining at any byte in one cell, as the host has
/// them.
#[test]
fn a_joined_emoji_cut_anywhere_is_one_cell_for_a_joiner() {
    let size = Size::new(30, 4);
    let bytes = "\x1b[2;3H\u{1F468}\r\x1b[2;3H\u{1F468}\u{200d}\u{1F469}\r\x1b[2;3H\u{1F468}\u{200d}\u{1F469}\u{200d}\u{1F467} end\r\n\u{1F3F3}\u{fe0f}\u{200d}\u{1F308}!"
        .as_bytes();
    let host = parse(size, bytes);
    assert_eq!(
        host.screen().cell(1, 2).unwrap().contents(),
        "\u{1F468}\u{200d}\u{1F469}\u{200d}\u{1F467}"
    );
    assert_eq!(host.screen().cell(1, 5).unwrap().contents(), "e");
    for at in 0..=bytes.len() {
        if std::str::from_utf8(&bytes[..at]).is_err() {
            continue; // the hub never cuts inside a character
        }
        let hub = Hub::new(size);
        hub.process(&bytes[..at]);
        let mut sub = hub.subscribe();
        hub.process(&bytes[at..]);
        let mut stream = sub.snapshot.to_vec();
        while let Ok(Event::Output(b)) = sub.events.try_recv() {
            stream.extend_from_slice(&b);
        }
        assert_same_screen(host.screen(), parse(size, &stream).screen())
            .unwrap_or_else(|e| panic!("joined at byte {at}: {e}"));
    }
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

proptest! {
    /// Framing: a terminal larger than the session (wider, taller or both) that joins at any
    /// point and is sent the framed stream shows, in the session's area, exactly the screen of
    /// a terminal of the session's size that saw everything, with the cursor in the same place,
    /// and nothing but default blanks outside it.
    #[test]
    fn a_larger_terminal_shows_the_sessions_screen_and_nothing_outside(
        bytes in terminal_bytes(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
        join in any::<prop::sample::Index>(),
        (wider, taller) in prop_oneof![(1u16..30, 0u16..10), (0u16..30, 1u16..10)],
    ) {
        // A character widened by a later U+FE0F in the last column moves to the next row in a
        // terminal of the session's width only. tmux never draws that: it writes a cluster
        // whole, where it fits. Other streams are left to the model alone.
        let bytes = String::from_utf8_lossy(&bytes).replace('\u{fe0f}', "").into_bytes();
        let size = Size::new(40, 12);
        let term = Size::new(size.cols + wider, size.rows + taller);
        let (chunks, join_at) = cut(&bytes, &cuts, join);

        let hub = Hub::new(size);
        let mut guest = None;
        for (i, chunk) in chunks.iter().enumerate() {
            if i == join_at { guest = Some(hub.subscribe_for(Some(term))); }
            hub.process(chunk);
        }
        let mut sub = guest.unwrap_or_else(|| hub.subscribe_for(Some(term)));
        prop_assert!(sub.framed.is_some());
        let mut stream = sub.snapshot.to_vec();
        while let Ok(ev) = sub.events.try_recv() {
            if let Event::Framed(f) = ev { stream.extend_from_slice(&f.for_terminal(size, term)); }
        }
        let host = parse(size, &bytes);
        let larger = parse(term, &stream);
        assert_framed_screen(host.screen(), larger.screen())?;
    }
}

/// `larger` shows `session` in its top left corner, with the cursor where `session` has it,
/// and default blanks everywhere else.
fn assert_framed_screen(
    session: &vt100::Screen,
    larger: &vt100::Screen,
) -> Result<(), TestCaseError> {
    let (rows, cols) = session.size();
    let (term_rows, term_cols) = larger.size();
    for r in 0..term_rows.get() {
        for c in 0..term_cols.get() {
            let cell = larger.cell(r, c).unwrap();
            if r < rows.get() && c < cols.get() {
                let want = session.cell(r, c).unwrap();
                if want.has_contents() || cell.has_contents() {
                    prop_assert_eq!(look(want), look(cell), "cell {},{}", r, c);
                } else {
                    // A blank shows its background, inverse video and underline, not the
                    // foreground colour an erase left on it.
                    let shows = |c: &vt100::Cell| (c.bgcolor(), c.inverse(), c.underline_style());
                    prop_assert_eq!(shows(want), shows(cell), "blank cell {},{}", r, c);
                }
            } else {
                // What shows of an erased cell: no text, no background, not inverted (an erase
                // keeps the foreground colour in the model, which nothing draws).
                let shows = (cell.has_contents(), cell.bgcolor(), cell.inverse());
                prop_assert_eq!(
                    (false, vt100::Color::Default, false),
                    shows,
                    "outside the session: cell {},{}",
                    r,
                    c
                );
            }
        }
    }
    let (row, col) = session.cursor_position();
    let want = (row, col.min(cols.get() - 1));
    let (lrow, lcol) = larger.cursor_position();
    prop_assert_eq!(want, (lrow, lcol.min(cols.get() - 1)), "cursor");
    prop_assert_eq!(
        session.attributes_formatted(),
        larger.attributes_formatted()
    );
    Ok(())
}

/// The bug a new user met: a host at 120x35 beside a read-write guest at 70x20. Lines longer
/// than the session, which tmux leaves to the terminal to wrap, and the status line, drawn in
/// the host's larger terminal.
#[test]
fn regression_long_lines_in_a_smaller_session_wrap_in_a_larger_terminal() {
    let size = Size::new(70, 20);
    let term = Size::new(120, 35);
    let line = format!("line 1 {}", "x".repeat(100));
    let bytes = format!(
        "\x1b[1;19r\x1b[H\x1b[2J{line}\r\n{line}\x1b[20;1H\x1b[42m[fun] 0:bash*\x1b[K\x1b[m\x1b[3;5H"
    );
    let hub = Hub::new(size);
    let mut sub = hub.subscribe_for(Some(term));
    hub.process(bytes.as_bytes());
    let mut stream = sub.snapshot.to_vec();
    while let Ok(ev) = sub.events.try_recv() {
        if let Event::Framed(f) = ev {
            stream.extend_from_slice(&f.for_terminal(size, term));
        }
    }
    let session = parse(size, bytes.as_bytes());
    assert_eq!(session.screen().cell(1, 0).unwrap().contents(), "x");
    assert_framed_screen(session.screen(), parse(term, &stream).screen()).unwrap();
}
