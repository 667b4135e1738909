//! Framing: the client's output made right for a terminal larger than the session.
//!
//! tmux draws for a terminal of the session's size, C columns by R rows. A larger terminal (the
//! host's, when a guest's smaller terminal sets the session's size; a guest's on a bigger
//! screen) shows the same bytes differently in a few places, and left as they are they leave
//! stale and garbled cells:
//! - where tmux lets the cursor wrap at column C (it does, to keep wrapped lines whole for
//!   copying), the larger terminal goes on writing at column C instead;
//! - a scroll-region reset means the whole screen, which is taller there;
//! - erasing, inserting or scrolling with a background colour spreads that colour over the area
//!   outside the session, and inserted characters are pushed out into it.
//!
//! Everything else tmux draws at absolute places inside C by R. So the framer follows the model
//! through each chunk and writes the same bytes with those places put right: CR LF where the
//! C-column terminal would wrap, the model's own region for every DECSTBM, and after a chunk
//! that spread or pushed anything outside, the rows concerned drawn again from the model with
//! the area right of the session, and the rows below it, blanked. Nothing it adds depends on how
//! much larger the terminal is, so one framed stream serves every larger terminal; only the
//! repairs right of the session and below it are kept apart ([`Framed::right`],
//! [`Framed::below`]), because a terminal that is larger in one direction only must not get the
//! other's (a cursor move past its edge stops on its last column or row).

use bytes::{BufMut, Bytes, BytesMut};

use crate::size::Size;

mod run;

use run::Run;

/// A chunk of output for terminals larger than the session: the chunk as they must see it,
/// with repairs where it spread anything outside the session, each kept apart by the direction
/// it repairs in.
#[derive(Clone, Debug, Default)]
pub struct Framed {
    pieces: Vec<Piece>,
}

#[derive(Clone, Debug)]
enum Piece {
    /// Output, for every larger terminal.
    Body(Bytes),
    /// Draws again the rows that spread outside the session on the right, and blanks that
    /// area: for terminals wider than the session.
    Right(Bytes),
    /// Blanks the rows below the session: for terminals taller than it.
    Below(Bytes),
    /// Puts the cursor and attributes back after a `Right` or `Below`.
    Restore(Bytes),
}

impl Framed {
    /// What a terminal of size `term` is sent, for a session of size `session` (no larger).
    pub fn for_terminal(&self, session: Size, term: Size) -> Bytes {
        if let [Piece::Body(body)] = &self.pieces[..] {
            return body.clone();
        }
        let (right, below) = (term.cols > session.cols, term.rows > session.rows);
        let mut out = BytesMut::new();
        for piece in &self.pieces {
            match piece {
                Piece::Body(b) => out.put_slice(b),
                Piece::Right(b) if right => out.put_slice(b),
                Piece::Below(b) if below => out.put_slice(b),
                Piece::Restore(b) if right || below => out.put_slice(b),
                _ => {}
            }
        }
        out.freeze()
    }

    /// The same with the output changed by `f` (query stripping, which keeps to whole
    /// sequences, as the pieces are cut).
    pub(super) fn map_output(&self, f: impl Fn(Bytes) -> Bytes) -> Framed {
        let pieces = self
            .pieces
            .iter()
            .map(|p| match p {
                Piece::Body(b) => Piece::Body(f(b.clone())),
                other => other.clone(),
            })
            .collect();
        Framed { pieces }
    }
}

/// Whether a terminal of size `term` needs the framed stream of a session of size `session`:
/// it is larger in some direction and the session fits in it (a smaller terminal is told that
/// it is too small instead).
pub fn needs_framing(session: Size, term: Size) -> bool {
    session != term && session.fits_in(term)
}

/// Feeds `bytes` (whole sequences and characters) to the model, and returns them framed.
pub(super) fn frame(parser: &mut vt100::Parser, bytes: Bytes) -> Framed {
    let mut run = Run::new(parser, &bytes);
    run.walk();
    run.finish(&bytes)
}

/// Frames `bytes` for a terminal that starts blank, as a model of `size` sees them: a snapshot
/// or a repaint, which starts from scratch.
pub(super) fn frame_fresh(size: Size, bytes: &[u8]) -> Framed {
    let mut p = vt100::Parser::new(super::nz(size.rows), super::nz(size.cols), 0);
    frame(&mut p, Bytes::copy_from_slice(bytes))
}
