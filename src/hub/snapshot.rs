//! The snapshot: the bytes that bring a newly joined terminal to the state of the model, so
//! that the output published after it draws there as it does on the host's terminal.

use super::region::RegionTracker;

/// Bytes that turn any terminal into `screen`, including the state tmux assumes when it draws
/// incrementally: the alternate screen, the scroll region, the cursor, attributes and input modes.
pub(super) fn snapshot(screen: &vt100::Screen, region: &RegionTracker) -> Vec<u8> {
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

/// Bytes that turn a terminal already showing this session into `screen`: the host's terminal,
/// after it was resized around a screen that tmux does not draw again. Unlike the snapshot it
/// does not reset the terminal (RIS would also undo what the host's terminal was told that the
/// model does not hold: its keyboard protocol, focus reporting, title), and it draws the screen
/// in use only (the terminal is in it already).
pub(super) fn repaint(screen: &vt100::Screen, region: &RegionTracker) -> Vec<u8> {
    let mut out = b"\x1b[m\x1b[r\x1b[H\x1b[2J".to_vec();
    let active = if screen.alternate_screen() {
        region.alt
    } else {
        region.main
    };
    draw(&mut out, screen, active);
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use crate::hub::oracle::{assert_same_screen, parse};
    use crate::hub::{Event, Hub};
    use crate::size::Size;

    proptest! {
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
}
