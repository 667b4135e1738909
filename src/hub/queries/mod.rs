//! Stripping: what the tmux client writes to its terminal that asks the terminal something or
//! acts beyond the screen is taken out of the published stream, whole sequences at a time.
//!
//! Two kinds go. Queries (device attributes, status and cursor reports, version, colour, mode
//! and capability requests): tmux asks its terminal questions, and the answers come back as
//! input. The host's terminal (in attached mode) sees the raw output and answers; guests must
//! not, or a read-write guest's terminal would type `^[[>84;0;0c` into the shared shell. And
//! requests that act on the terminal or the machine of whoever reads the stream rather than on
//! its screen: the clipboard (OSC 52: a copy in tmux's copy mode is sent to its one client),
//! titles (OSC 0/1/2, screen's `ESC k`), the working directory (OSC 7), notifications (OSC 9,
//! 99, 777), colours (OSC 4, 10-19, 104-119, the cursor's among them), iTerm2's and kitty's
//! commands (OSC 1337, 5113, 5522), and the window itself (`CSI t` moves and resizes).
//! Whatever such a request carries (a copied password) would reach every guest, the recording
//! and the web page; the host's terminal, which takes the raw bytes, still gets them, as with a
//! plain `tmux attach`, but for a clipboard write made while a guest was the last to type
//! ([`strip_clipboard`]): that copy was the guest's.
//!
//! Strings are judged by their head and by what stays, not by what goes: of the OSCs only
//! hyperlinks (OSC 8) stay, of the DCSs only sixel images and synchronized updates, and SOS,
//! PM and APC go whole (kitty's graphics, which answer and can read the guest's files).
//! Nothing removed changes a cell, so the model, which is fed the stripped stream, loses
//! nothing. A string is removed however it ends: ST, BEL, CAN or SUB, or an ESC that begins
//! another sequence (terminals built on the DEC parser act on a string cut short so).
//! A string longer than the scanner holds back (a clipboard write of a large copy) is cut where
//! it is published ([`cut_removed_string`]), and the rest of it dropped as it comes.

use bytes::Bytes;

use super::scan::Scan;

/// Replaces every sequence that is removed (see the module doc) by CAN, keeping the controls
/// that act inside it. Expects complete sequences, as [`super::scan::Boundary`] publishes them.
pub(super) fn strip_queries(bytes: Bytes) -> Bytes {
    strip(bytes, csi_removed, removed)
}

/// Replaces clipboard writes and reads (OSC 52) alone, as [`strip_queries`] does: for the
/// host's terminal when the copy was a guest's.
pub(super) fn strip_clipboard(bytes: Bytes) -> Bytes {
    strip(
        bytes,
        |_| false,
        |seq| is_string(seq) && seq[introducer(seq)..].starts_with(b"]52;"),
    )
}

/// Replaces each complete sequence that `seq_removed` picks (`csi_removed` judges a plain
/// control sequence, from what follows its `ESC [`).
fn strip(bytes: Bytes, csi_removed: fn(&[u8]) -> bool, seq_removed: fn(&[u8]) -> bool) -> Bytes {
    let mut out: Option<Vec<u8>> = None;
    let mut kept = 0; // bytes[..kept] are accounted for in `out`
    let mut i = 0;
    while let Some(off) = memchr::memchr(0x1b, &bytes[i..]) {
        let start = i + off;
        // The short path: a control sequence with nothing but parameters and intermediates
        // before its final byte, as tmux writes nearly all of its output.
        if let Some(len) = plain_csi(&bytes[start..]) {
            let seq = &bytes[start..start + len];
            if csi_removed(&seq[2..]) {
                let o = out.get_or_insert_with(|| Vec::with_capacity(bytes.len()));
                o.extend_from_slice(&bytes[kept..start]);
                o.push(0x18);
                kept = start + len;
            }
            i = start + len;
            continue;
        }
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
        // A string cut short by a new sequence is over (a terminal acts on it); any other
        // sequence cut short is not (a terminal drops it).
        let stop = cancelled_at.unwrap_or(end);
        let whole = match cancelled_at {
            None => scan == Scan::Ground,
            Some(_) => is_string(&bytes[start..stop]),
        };
        if whole && seq_removed(&bytes[start..stop]) {
            let o = out.get_or_insert_with(|| Vec::with_capacity(bytes.len()));
            o.extend_from_slice(&bytes[kept..start]);
            let len = model_length(&bytes[start..stop]);
            replace(o, &bytes[start..start + len]);
            kept = start + len;
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

/// The length of the control sequence that `bytes` begins with, if it is whole and has no
/// control or high byte inside (which the general path, with [`Scan`], takes care of).
fn plain_csi(bytes: &[u8]) -> Option<usize> {
    if bytes.get(1) != Some(&b'[') {
        return None;
    }
    let inside = bytes[2..].iter().position(|b| !(0x20..=0x3f).contains(b))?;
    let fin = bytes[2 + inside];
    (0x40..=0x7e).contains(&fin).then_some(3 + inside)
}

/// Writes what stands for the removed sequence `seq`: CAN, then the controls that acted inside
/// it.
fn replace(out: &mut Vec<u8>, seq: &[u8]) {
    // CAN: the sequence's ESC ended whatever was pending before it (an ESC it cancelled, half
    // a UTF-8 character), and CAN ends it the same way, so that the bytes after it mean the same
    // to guests as to the host's terminal. Elsewhere a terminal ignores CAN.
    out.push(0x18);
    // A control between ESC and what follows it, or inside a control sequence, acts where it
    // stands (a terminal executes it mid-sequence): keep it, drop only the sequence. Inside a
    // string a control is data, and goes with it.
    let acting = if is_string(seq) {
        &seq[..introducer(seq)]
    } else {
        seq
    };
    out.extend(acting.iter().filter(|&&b| b < 0x20 && b != 0x1b));
}

/// Where the byte that says what `seq` is stands: the first after its ESC that is not a C0
/// control (those act, and the sequence goes on). `seq.len()` if none.
fn introducer(seq: &[u8]) -> usize {
    seq[1..]
        .iter()
        .position(|&b| b >= 0x20)
        .map_or(seq.len(), |p| p + 1)
}

/// Whether `seq`, which starts with ESC, is a string (OSC, DCS, SOS, PM or APC).
fn is_string(seq: &[u8]) -> bool {
    matches!(
        seq.get(introducer(seq)),
        Some(b']' | b'P' | b'X' | b'^' | b'_')
    )
}

/// For [`super::scan::Boundary`], which publishes a string too long to hold back before it
/// ends: if the string that `out` ends inside is one the stripping removes, puts CAN (with the
/// controls that acted) in its place and says so; the caller then drops the rest of the string
/// as it comes. `esc_last`: `out` ends with an ESC inside the string (which may end it). A
/// string that began in bytes already published stays: it was judged then.
pub(super) fn cut_removed_string(out: &mut Vec<u8>, esc_last: bool) -> bool {
    let end = out.len() - usize::from(esc_last);
    let Some(start) = out[..end].iter().rposition(|&b| b == 0x1b) else {
        return false;
    };
    let seq = &out[start..end];
    // A DCS stays here (none carries anything of the host's; see `model_length`).
    if !(is_string(seq) && seq[introducer(seq)] != b'P' && removed(seq)) {
        return false;
    }
    let mut instead = Vec::new();
    replace(&mut instead, seq);
    out.truncate(start);
    out.extend_from_slice(&instead);
    true
}

/// How much of `seq` the screen model's parser (vte) takes as the sequence: all of it, but for
/// a DCS that it ends at a raw 0x9C (C1 ST) after the DCS's final byte, where the scanner, as
/// terminals that decode UTF-8 first, goes on to ST. What follows it is text to the model,
/// and stays. (A DCS longer than the scanner holds back is therefore not dropped as it comes:
/// see `cut_removed_string`.)
fn model_length(seq: &[u8]) -> usize {
    let at = introducer(seq);
    if seq.get(at) != Some(&b'P') {
        return seq.len();
    }
    // vte's DCS states: entry, parameters, intermediates, ignore, passthrough.
    #[derive(Clone, Copy, PartialEq)]
    enum Dcs {
        Entry,
        Param,
        Intermediate,
        Ignore,
        Passthrough,
    }
    let mut state = Dcs::Entry;
    for (i, &b) in seq.iter().enumerate().skip(at + 1) {
        state = match (state, b) {
            (Dcs::Passthrough, 0x9c) => return i + 1,
            (Dcs::Passthrough | Dcs::Ignore, _) => state,
            (Dcs::Intermediate, 0x30..=0x3f) | (Dcs::Param, 0x3c..=0x3f) => Dcs::Ignore,
            (_, 0x20..=0x2f) => Dcs::Intermediate,
            (Dcs::Entry | Dcs::Param, 0x30..=0x3f) => Dcs::Param,
            (_, 0x40..=0x7e) => Dcs::Passthrough,
            _ => state, // C0, DEL and high bytes are ignored before the final byte
        };
    }
    seq.len()
}

/// Whether one escape sequence, complete or (a string) cut short, is removed: a query, or a
/// request that acts beyond the screen.
fn removed(seq: &[u8]) -> bool {
    let at = introducer(seq);
    let Some(&kind) = seq.get(at) else {
        return false;
    };
    let rest = &seq[at + 1..];
    match kind {
        b'[' if rest.iter().any(|&b| b < 0x20) => {
            // Controls inside act and are kept apart (see `replace`); what is left is the
            // sequence.
            csi_removed(
                &rest
                    .iter()
                    .copied()
                    .filter(|&b| b >= 0x20)
                    .collect::<Vec<_>>(),
            )
        }
        b'[' => csi_removed(rest),
        b']' => osc_removed(rest),
        b'P' => dcs_removed(rest),
        // SOS, PM, APC: nothing a terminal draws from them is in the model; kitty's graphics
        // (APC G) answer, and can show, and answer about, the guest's own files.
        b'X' | b'^' | b'_' => true,
        // DECID answers as DA does; screen's title string begins with ESC k (only its
        // introducer is a sequence to the model and to xterm, which draw the title as text: so
        // does a guest's screen or tmux once it is gone).
        b'Z' | b'k' => rest.is_empty(),
        _ => false,
    }
}

/// A control sequence (`rest` is what follows `ESC [`, without controls): a query, or a
/// window operation.
fn csi_removed(rest: &[u8]) -> bool {
    let Some((&fin, params)) = rest.split_last() else {
        return false;
    };
    let numeric = |p: &[u8]| p.iter().all(|&b| b.is_ascii_digit() || b == b';');
    let (first, last) = (params.first(), params.last());
    match fin {
        // DA1, DA2, DA3; DSR (status, cursor position).
        b'c' | b'n' => true,
        // XTVERSION (DECSCUSR, `CSI 2 q`, stays).
        b'q' => first == Some(&b'>'),
        // DECRQM; the keyboard protocol's query and DECRQTSR; DECRQPSR; DECRQCRA.
        b'p' => last == Some(&b'$'),
        b'u' => first == Some(&b'?') || last == Some(&b'$'),
        b'w' => last == Some(&b'$'),
        b'y' => last == Some(&b'*'),
        // DECREQTPARM; XTSMGRAPHICS and XTQMODKEYS; XTREPORTSGR.
        b'x' => numeric(params),
        b'S' | b'm' => first == Some(&b'?'),
        b'|' => last == Some(&b'#'),
        // Window operations: reports, and moving, resizing, raising, iconifying the reader's
        // window. The title stack (22, 23) stays: with no title let through, it holds the
        // guest's own.
        b't' => {
            numeric(params) && !matches!(params.split(|&b| b == b';').next(), Some(b"22" | b"23"))
        }
        _ => false,
    }
}

/// An OSC (`rest` is what follows `ESC ]`): only a hyperlink stays. Every other OSC speaks to
/// the terminal, not to its screen: titles, the clipboard, colours, the working directory,
/// notifications, fonts, and each terminal's own (iTerm2's 1337, kitty's 5113 and 5522).
fn osc_removed(rest: &[u8]) -> bool {
    !rest.starts_with(b"8;")
}

/// A DCS (`rest` is what follows `ESC P`): only sixel images (`DCS P1;P2;P3 q`) and tmux's
/// synchronized updates (`DCS =1s`, `DCS =2s`) stay. Gone: the capability and setting queries
/// (XTGETTCAP `+q`, DECRQSS `$q`), and the requests that reprogram the guest's terminal (its
/// function keys, DECUDK; its fonts, DECDLD; its state, DECRSTS; XTSETTCAP).
fn dcs_removed(rest: &[u8]) -> bool {
    let head = rest
        .iter()
        .position(|&b| !(b.is_ascii_digit() || b == b';'))
        .unwrap_or(rest.len());
    let (params, rest) = rest.split_at(head);
    let sixel = rest.first() == Some(&b'q');
    let sync = params.is_empty() && (rest.starts_with(b"=1s") || rest.starts_with(b"=2s"));
    !(sixel || sync)
}

#[cfg(test)]
mod tests;
