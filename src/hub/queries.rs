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
//! plain `tmux attach`.
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
        if whole && removed(&bytes[start..stop]) {
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
mod tests {
    use bytes::Bytes;
    use proptest::prelude::*;

    use super::strip_queries;
    use crate::hub::oracle::{assert_same_screen, join_after, parse};
    use crate::hub::scan::MAX_HELD_BACK;
    use crate::hub::{Event, Hub};
    use crate::size::Size;

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

    /// Found by `cargo fuzz run snapshot`: a query stripped from the stream (DSR, `CSI 2 n`)
    /// took a backspace inside it along, which the host's terminal had acted on.
    #[test]
    fn regression_controls_inside_a_stripped_query_still_act() {
        let bytes = b"\xb6\x010\x1b[2\0\x08\0\x8e\xff\xe4\xa4\xcd\xbfn\x10\xfe\x1f/";
        join_after(bytes, 0);
    }

    #[test]
    fn terminal_queries_are_not_published() {
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
            // Asked less often, and answered all the same.
            b"\x1bZ",
            b"\x1b[1;1;1;1;1*y",
            b"\x1b[1$w",
            b"\x1b[1$u",
            b"\x1b[?1;1;0S",
            b"\x1b[?4m",
            b"\x1b[1;1;2;2#|",
            b"\x1b[x",
            b"\x1b[1x",
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
            b"\x1bc",
            b"\x1b[1;24r",
            b"\x1b[?25h",
        ] {
            let with = [b"x".as_slice(), keep, b"y"].concat();
            assert_eq!(strip(&with), with);
        }
        assert_eq!(strip(b"\x1b[>c\x1b[>c"), b"\x18\x18");
    }

    fn strip(b: &[u8]) -> Vec<u8> {
        strip_queries(Bytes::copy_from_slice(b)).to_vec()
    }

    /// The leak this stripping closes: with tmux's default `set-clipboard external`, a copy in
    /// copy mode is written to the client's terminal as OSC 52, and went to every guest.
    /// Every request that acts on the reader's terminal or machine rather than on its screen
    /// is removed whole, however it ends.
    #[test]
    fn requests_that_act_beyond_the_screen_are_not_published() {
        let heads: &[&[u8]] = &[
            b"\x1b]52;c;U0VDUkVU",          // the clipboard, and the primary selection
            b"\x1b]52;;U0VDUkVU",           // tmux's own: no selection named
            b"\x1b]52;p;?",                 // and its query
            b"\x1b]0;SECRET",               // titles: icon and window,
            b"\x1b]1;SECRET",               // icon,
            b"\x1b]2;SECRET",               // window
            b"\x1b]7;file://host/SECRET",   // the working directory
            b"\x1b]9;SECRET",               // notifications: iTerm2, ConEmu,
            b"\x1b]777;notify;SECRET;body", // urxvt, VTE
            b"\x1b]99;i=1;SECRET",          // kitty
            b"\x1b]12;#ff0000",             // the cursor's colour
            b"\x1b]112",
            b"\x1b]4;1;#ff0000", // the palette
            b"\x1b]104",
            b"\x1b]10;#ffffff", // foreground, background
            b"\x1b]11;#000000",
            b"\x1b]110",
            b"\x1b]111",
            b"\x1b]50;SECRET",                                 // the font
            b"\x1b]1337;File=name=U0VDUkVU;inline=0:U0VDUkVU", // iTerm2: a download
            b"\x1b]1337;SetUserVar=SECRET",
            b"\x1b]5113;ac=send",      // kitty: file transfer,
            b"\x1b]5522;type=write",   // clipboard
            b"\x1b]SECRET",            // an OSC with no number
            b"\x1b_Ga=T,t=f;U0VDUkVU", // kitty's graphics (APC)
            b"\x1b^SECRET",            // PM
            b"\x1bXSECRET",            // SOS
            b"\x1bP0;1|17/SECRET",     // DECUDK: the guest's function keys
            b"\x1bP+p544e;SECRET",     // XTSETTCAP
            b"\x1bPtmux;SECRET",       // tmux's passthrough, to a guest's own tmux
        ];
        for head in heads {
            for end in [&b"\x07"[..], b"\x1b\\", b"\x18", b"\x1a", b""] {
                // The last: cut short by the sequence that follows, which a terminal built on
                // the DEC parser (vte) takes as the string's end.
                let with = [b"ab".as_slice(), head, end, b"\x1b[1mcd"].concat();
                assert_eq!(
                    strip(&with),
                    b"ab\x18\x1b[1mcd",
                    "{:?}",
                    String::from_utf8_lossy(&with)
                );
            }
        }
        for window_op in [
            &b"\x1b[8;24;80t"[..], // resize,
            b"\x1b[3;0;0t",        // move,
            b"\x1b[2t",            // iconify,
            b"\x1b[9;1t",          // maximize
            b"\x1b[5t",            // raise
            b"\x1b[48t",           // DECSLPP: so many lines
            b"\x1bk",              // screen's title
        ] {
            let with = [b"ab".as_slice(), window_op, b"cd"].concat();
            assert_eq!(strip(&with), b"ab\x18cd");
        }
        // Screen's title string: its text is drawn by the model and by xterm, so it stays.
        assert_eq!(strip(b"\x1bktitle\x1b\\"), b"\x18title\x1b\\");
        // A control before the introducer acts; one inside a string is data.
        assert_eq!(strip(b"\x1b\n]52;;\x08U0VD\x07x"), b"\x18\nx");
        assert_eq!(strip(b"\x1b]0;a\x1b]2;b\x07"), b"\x18\x18");
    }

    /// What stays: what draws on the screen, or sets how the guest's keys and mouse reach the
    /// session (where the host's go).
    #[test]
    fn what_draws_on_the_screen_is_published() {
        for keep in [
            &b"\x1b]8;;https://example.com/\x1b\\link\x1b]8;;\x1b\\"[..], // hyperlinks
            b"\x1b]8;id=1;file:///tmp/x\x07link\x1b]8;;\x07",
            b"\x1b[2 q", // the cursor's shape (DECSCUSR)
            b"\x1b[5 q",
            b"\x1b[0 q",
            b"\x1b[22;0t", // the title stack, which holds the guest's own title
            b"\x1b[23;0t",
            b"\x1b[>3t",                                  // title modes
            b"\x1bP0;1;0q#0;2;0;0;0#0~~@@vv@@~~$-\x1b\\", // sixel
            b"\x1bPq#0~\x1b\\",
            b"\x1bP=1s\x1b\\", // synchronized update
            b"\x1bP=2s\x1b\\",
            b"\x1b[?2026h",
            b"\x1b[?1004h", // focus events
            b"\x1b[>4;2m",  // extended keys
            b"\x1b[?2004h", // bracketed paste
            b"\x1b[?1000h\x1b[?1006h",
            b"\x1b[38;2;1;2;3m",
            b"\x1b[4:3m",
            b"\x1b[2S",
            b"\x1b[3;1H",
            b"\x07", // the bell
            b"\x1bc",
        ] {
            let with = [b"x".as_slice(), keep, b"y"].concat();
            assert_eq!(strip(&with), with, "{:?}", String::from_utf8_lossy(keep));
        }
    }

    /// What a subscriber from the start receives when the client writes `chunks`, and the
    /// model's screen after them.
    fn published(chunks: &[&[u8]]) -> (Vec<u8>, String) {
        let hub = Hub::new(Size::new(40, 12));
        let mut sub = hub.subscribe();
        for c in chunks {
            hub.process(c);
        }
        let mut out = Vec::new();
        while let Ok(Event::Output(b)) = sub.events.try_recv() {
            out.extend_from_slice(&b);
        }
        (out, hub.screen().contents())
    }

    /// Whether `out` holds any of the secrets these tests write, or the start of a clipboard
    /// write.
    fn has_secret(out: &[u8]) -> bool {
        out.windows(4).any(|w| w == b"\x1b]52" || w == b"U0VD")
            || out.windows(6).any(|w| w == b"SECRET")
    }

    /// A string split across reads is held back whole by the scanner, then removed, at every
    /// cut.
    #[test]
    fn a_clipboard_write_split_across_reads_is_not_published() {
        let write = b"ab\x1b]52;;U0VDUkVU\x07\x1b]2;SECRET\x1b\\cd";
        for at in 0..=write.len() {
            let (out, screen) = published(&[&write[..at], &write[at..]]);
            assert!(
                !has_secret(&out),
                "cut at {at}: {:?}",
                String::from_utf8_lossy(&out)
            );
            assert_eq!(screen, "abcd");
        }
    }

    /// A string longer than the scanner holds back (a large copy) is published before its end:
    /// its start is removed there and the rest dropped as it comes, however it ends and
    /// however the reads cut it.
    #[test]
    fn a_clipboard_write_longer_than_what_is_held_back_is_not_published() {
        let long = "U0VD".repeat(3 * MAX_HELD_BACK);
        for end in [
            &b"\x07"[..],
            b"\x1b\\",
            b"\x18",
            b"\x1b[1m",
            b"\x1b\x1b[1m",
            b"\x1b]2;SECRET\x07",
        ] {
            let bytes = [
                b"ab\x1b[1",
                b"\x1b]52;;".as_slice(),
                long.as_bytes(),
                end,
                b"cd",
            ]
            .concat();
            for size in [1000, 4095, 4096, 4097, 5000, bytes.len()] {
                let chunks: Vec<&[u8]> = bytes.chunks(size).collect();
                let (out, screen) = published(&chunks);
                assert!(
                    !has_secret(&out),
                    "{:?} in {size}-byte reads",
                    String::from_utf8_lossy(end)
                );
                assert_eq!(screen, "abcd");
            }
            // Guests joining anywhere in it, and before, see the host's screen.
            for at in [0, 2, 3, 4100, 5000, bytes.len() - 2] {
                join_after(&bytes, at);
            }
        }
        // A long string that stays (a sixel image) is published as it comes, as before.
        let sixel = [
            b"\x1bPq".as_slice(),
            "#0~".repeat(3000).as_bytes(),
            b"\x1b\\x",
        ]
        .concat();
        let (out, _) = published(&sixel.chunks(1000).collect::<Vec<_>>());
        assert_eq!(out, sixel);
    }

    /// Text with the clipboard writes, titles and notifications tmux or a program behind
    /// passthrough may send, among other output.
    fn output_with_secrets() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            "[a-z ]{1,8}".prop_map(|s| s.into_bytes()),
            Just(b"\r\n".to_vec()),
            Just(b"\x1b[31m".to_vec()),
            Just(b"\x1b[m".to_vec()),
            Just(b"\x1b[2;3H".to_vec()),
            Just(b"\x1b]8;;http://x/\x07".to_vec()),
            Just("é界".as_bytes().to_vec()),
            Just(b"\x1b]52;;U0VDUkVU\x07".to_vec()),
            Just(b"\x1b]52;c;U0VDUkVU\x1b\\".to_vec()),
            Just(b"\x1b]2;SECRET\x07".to_vec()),
            Just(b"\x1b]0;SECRET\x1b".to_vec()), // cut short by what follows
            Just(b"\x1b]777;notify;SECRET\x18".to_vec()),
            Just(b"\x1b_GSECRET\x1b\\".to_vec()),
            (1usize..3).prop_map(|n| {
                [
                    b"\x1b]52;;".as_slice(),
                    "U0VD".repeat(n * MAX_HELD_BACK / 3).as_bytes(),
                    b"\x07",
                ]
                .concat()
            }),
        ];
        prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
    }

    proptest! {
        /// Cut into reads anywhere, no secret is published, and a guest joining after any
        /// read gets the host's screen.
        #[test]
        fn no_secret_is_published_wherever_reads_end(
            bytes in output_with_secrets(),
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
            let mut first = hub.subscribe();
            let mut guest = None;
            for (i, chunk) in chunks.iter().enumerate() {
                if i == join_at { guest = Some(hub.subscribe()); }
                hub.process(chunk);
            }
            // A stream that ends inside a sequence is completed, as tmux's next bytes would
            // complete it (see `host_and_joiner`).
            hub.process(b"\x18");
            let mut all = Vec::new();
            while let Ok(Event::Output(b)) = first.events.try_recv() { all.extend_from_slice(&b); }
            prop_assert!(!all.windows(4).any(|w| w == b"U0VD" || w == b"\x1b]52"));
            prop_assert!(!all.windows(6).any(|w| w == b"SECRET"));
            let mut sub = guest.unwrap_or_else(|| hub.subscribe());
            let mut stream = sub.snapshot.to_vec();
            while let Ok(Event::Output(b)) = sub.events.try_recv() { stream.extend_from_slice(&b); }
            let host = parse(size, &[&bytes, b"\x18".as_slice()].concat());
            assert_same_screen(host.screen(), parse(size, &stream).screen())?;
            assert_same_screen(&hub.screen(), host.screen())?;
        }
    }

    /// Found by a property test of random bytes: a long string being dropped that ended with
    /// the ESC of another string dropped that one too. Here the model (vte) ends the second one
    /// at a raw 0x9C and draws the `]` after it, which a joiner must draw as well.
    #[test]
    fn regression_a_string_after_a_dropped_long_string_is_read_afresh() {
        let long = [b"\x1b]52;;".as_slice(), &[b'A'; 5000], b"\x1bP]\x9c]"].concat();
        // Joining in the long string, or on the ESC that ends it (not in the second string,
        // published as it comes: a joiner there starts in the middle of it, as before).
        for at in [0, 4097, 5000, 5007, long.len()] {
            join_after(&long, at);
        }
    }
}
