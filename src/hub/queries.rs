//! Query stripping: terminal queries (device attributes, status and cursor reports, version,
//! colour, mode and capability requests) are taken out of the published stream.
//!
//! tmux asks its terminal questions, and the answers come back as input. The host's terminal
//! (in attached mode) sees the raw output and answers; guests must not, or a read-write guest's
//! terminal would type `^[[>84;0;0c` into the shared shell. Queries do not change the screen,
//! so the model loses nothing.

use bytes::Bytes;

use super::scan::Scan;

/// Replaces every terminal query in `bytes` by CAN, keeping the controls inside it.
/// Expects complete sequences, as [`super::scan::Boundary`] publishes them.
pub(super) fn strip_queries(bytes: Bytes) -> Bytes {
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

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::strip_queries;
    use crate::hub::oracle::join_after;

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
}
