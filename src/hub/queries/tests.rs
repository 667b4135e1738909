use bytes::Bytes;
use proptest::prelude::*;

use super::{strip_clipboard, strip_queries};
use crate::hub::oracle::{assert_same_screen, join_after, parse};
use crate::hub::scan::MAX_HELD_BACK;
use crate::hub::tests::cut;
use crate::hub::{Event, Hub, Source};
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
        let (chunks, join_at) = cut(&bytes, &cuts, join);
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

/// For the host's terminal when a guest typed last: the clipboard write goes, however it ends,
/// and nothing else does (titles, queries and the screen stay the host's).
#[test]
fn the_clipboard_alone_is_stripped_for_a_guests_copy() {
    let clip = |b: &[u8]| strip_clipboard(Bytes::copy_from_slice(b)).to_vec();
    assert_eq!(clip(b"a\x1b]52;;U0VDUkVU\x07b"), b"a\x18b");
    assert_eq!(clip(b"a\x1b]52;c;U0VDUkVU\x1b\\b"), b"a\x18b");
    assert_eq!(clip(b"a\x1b]52;c;U0VD\x1b[1mb"), b"a\x18\x1b[1mb");
    for kept in [
        &b"\x1b]0;title\x07"[..],
        b"\x1b]8;;http://x\x07link\x1b]8;;\x07",
        b"\x1b[>c\x1b[6n",
        b"\x1b]5;2\x07\x1b]152;x\x07",
        b"\x1b[31mred\x1b[m",
    ] {
        assert_eq!(clip(kept), kept, "{kept:?}");
    }
}

/// The host's terminal, as a test reads it.
#[derive(Clone, Default)]
struct Shown(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Shown {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A copy larger than the hub holds back is cut for guests as it comes, but the host's own
/// reaches the host's terminal whole (its clipboard); a guest's reaches neither.
#[test]
fn a_large_copy_reaches_the_hosts_terminal_whole_only_when_it_is_the_hosts() {
    let payload = "U0VDUkVU".repeat(3 * MAX_HELD_BACK / 8);
    let copy = format!("a\x1b]52;;{payload}\x07b");
    for (typist, host_gets_it) in [(Source::Host, true), (Source::Guest(1), false)] {
        let hub = Hub::new(Size::new(80, 24));
        let shown = Shown::default();
        hub.show_host(Box::new(shown.clone()), Size::new(80, 24));
        let mut sub = hub.subscribe();
        hub.typed(typist);
        for piece in copy.as_bytes().chunks(1000) {
            hub.process(piece);
        }
        let shown = String::from_utf8(shown.0.lock().unwrap().clone()).unwrap();
        assert_eq!(shown.contains(&copy), host_gets_it, "{typist:?}");
        if !host_gets_it {
            assert!(shown.ends_with("a\x18b"), "{shown:?}");
        }
        let mut guest = Vec::new();
        while let Ok(Event::Output(b)) = sub.events.try_recv() {
            guest.extend_from_slice(&b);
        }
        assert_eq!(guest, b"a\x18b", "{typist:?}");
    }
}
