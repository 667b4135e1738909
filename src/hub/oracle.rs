//! The hub's join invariant as a check, for the unit and property tests and the fuzz target
//! `snapshot`; compiled only for tests and with the `fuzzing` feature, never into npair itself.

#[cfg(test)]
use proptest::prelude::*;

use super::{nz, Event, Hub};
use crate::size::Size;

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

/// A terminal model of `size` that saw `bytes`.
#[cfg(test)]
pub(super) fn parse(size: Size, bytes: &[u8]) -> vt100::Parser {
    let mut p = vt100::Parser::new(nz(size.rows), nz(size.cols), 0);
    p.process(bytes);
    p
}

/// Everything a cell shows: its text (a written space and a never-written cell look the same),
/// colours and every attribute.
#[cfg(test)]
pub(super) fn look(c: &vt100::Cell) -> impl PartialEq + std::fmt::Debug {
    let text = if c.contents().is_empty() {
        " ".to_owned()
    } else {
        c.contents().to_owned()
    };
    (
        text,
        [c.fgcolor(), c.bgcolor(), c.underline_color()],
        [
            c.bold(),
            c.dim(),
            c.italic(),
            c.inverse(),
            c.blink(),
            c.concealed(),
            c.strikethrough(),
            c.overline(),
        ],
        c.underline_style(),
    )
}

/// Compares two screens cell by cell (contents and attributes), and the cursor and modes.
#[cfg(test)]
pub(super) fn assert_same_screen(
    a: &vt100::Screen,
    b: &vt100::Screen,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(a.size(), b.size());
    let (rows, cols) = a.size();
    for r in 0..rows.get() {
        for c in 0..cols.get() {
            let (x, y) = (a.cell(r, c).unwrap(), b.cell(r, c).unwrap());
            prop_assert_eq!(look(x), look(y), "cell {},{}", r, c);
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

/// A guest joining after `bytes[..at]` ends with the screen of a terminal that saw all of
/// `bytes` (see `host_and_joiner`).
#[cfg(test)]
pub(super) fn join_after(bytes: &[u8], at: usize) {
    let (host, guest) = host_and_joiner(Size::new(40, 12), bytes, at);
    assert_eq!(host.contents(), guest.contents());
    assert_eq!(host.cursor_position(), guest.cursor_position());
}
