use super::control::{unescape, Expect, Line, State};
use super::scrollback::{blank, Scrollback};
use super::*;

#[test]
fn output_is_unescaped_from_octal() {
    assert_eq!(
        Line::parse(br"%output %12 a\033[31mb\134c\015\012\ 9\12"),
        Line::Output {
            pane: 12,
            data: b"a\x1b[31mb\\c\r\n\\ 9\\12".to_vec()
        }
    );
    assert_eq!(unescape("é\\011x".as_bytes()), "é\tx".as_bytes());
    assert_eq!(
        Line::parse(b"%output %1 "),
        Line::Output {
            pane: 1,
            data: vec![]
        }
    );
    assert_eq!(Line::parse(b"%output nonsense"), Line::Other);
}

const PANES_80X23: &str = "%0 0 0 80 23 2 3 1 1 0 4294967295 4294967295 0 22";

/// Feeds tmux's answer to the oldest command still out.
fn answer(state: &mut State, lines: &[&str]) {
    state.feed(b"%begin 1796170729 266 1");
    for l in lines {
        state.feed(l.as_bytes());
    }
    state.feed(b"%end 1796170729 266 1");
}

/// What the state waits for answers to: 'p' for the panes, 's' for a sync.
fn expected(state: &State) -> String {
    state
        .expected
        .iter()
        .map(|e| match e {
            Expect::Panes => 'p',
            Expect::Sync(_) => 's',
        })
        .collect()
}

fn texts(state: &State, req: &Request) -> (serde_json::Value, Vec<String>) {
    let v: serde_json::Value = serde_json::from_str(&state.reply(req)).unwrap();
    let rows = v["rows"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|runs| {
                    runs.as_array()
                        .unwrap()
                        .iter()
                        .map(|r| r["t"].as_str().unwrap())
                        .collect::<String>()
                })
                .collect()
        })
        .unwrap_or_default();
    (v, rows)
}

fn newest() -> Request {
    Request {
        kind: "history".into(),
        id: Some(7),
        pane: None,
        before: None,
        after: None,
    }
}

#[test]
fn blocks_answer_our_questions_and_output_scrolls_into_history() {
    let mut s = State::new();
    s.begin(None);
    assert_eq!(expected(&s), "p");
    // Output before the first answer is already in the cursor it gives.
    s.feed(br"%output %0 dropped\015\012");
    // Someone else's block is not ours, even when its lines look like ours.
    s.feed(b"%begin 1 2 0");
    s.feed(PANES_80X23.replace("%0", "%9").as_bytes());
    s.feed(b"%end 1 2 0");
    assert!(s.panes.is_empty());
    answer(&mut s, &[PANES_80X23]);
    assert_eq!(expected(&s), "");
    assert_eq!(s.active, Some(0));
    // The cursor is on row 3 of 23: lines 1 to 20 fill the screen, and each one after
    // scrolls a row off.
    let mut out = String::from("%output %0 ");
    for i in 1..=25 {
        out += &format!("line{i}\\015\\012");
    }
    s.feed(out.as_bytes());
    let (v, rows) = texts(&s, &newest());
    assert_eq!(v["id"], 7);
    assert_eq!(v["pane"], "%0");
    assert_eq!(v["label"], "window 0, pane 0");
    assert_eq!(v["active"], true);
    // The 3 blank rows scrolled off first held what was there before the share: dropped.
    assert_eq!(rows, ["  line1", "line2", "line3"]);
    assert_eq!(
        (v["start"].as_u64(), v["total"].as_u64()),
        (Some(0), Some(3))
    );

    // A change while a question is out is asked again once the answer is in.
    s.feed(b"%layout-change @0 x y *");
    s.feed(b"%window-pane-changed @0 %1");
    assert_eq!(expected(&s), "p");
    // Viewers' syncs: one out at a time, the others wait for the next.
    let mut first_sync = s.sync();
    let mut second_sync = s.sync();
    assert_eq!(expected(&s), "ps");
    answer(&mut s, &[PANES_80X23]);
    assert_eq!(expected(&s), "sp");
    answer(&mut s, &[""]);
    assert_eq!(first_sync.try_recv(), Ok(()));
    assert!(second_sync.try_recv().is_err());
    assert_eq!(expected(&s), "ps");
    // A new pane's output before tmux told us of it is replayed into its model.
    s.feed(br"%output %1 \033[1mnew\033[m");
    let second = "%1 0 1 40 23 3 0 1 1 0 4294967295 4294967295 0 22";
    let first = PANES_80X23.replace(" 1 1 0 ", " 1 0 0 ");
    answer(&mut s, &[&first, second]);
    answer(&mut s, &[]);
    assert_eq!(second_sync.try_recv(), Ok(()));
    assert_eq!(expected(&s), "");
    assert_eq!(s.active, Some(1));
    assert_eq!(s.panes[&1].parser.screen().contents(), "new");
    // A pane that closed is dropped with its history.
    s.feed(b"%window-close @1");
    answer(&mut s, &[second]);
    assert_eq!(s.panes.keys().collect::<Vec<_>>(), [&1]);
    let (v, _) = texts(
        &s,
        &Request {
            pane: Some("%0".into()),
            ..newest()
        },
    );
    assert_eq!(v["error"], "that pane has closed");
    // A pane in another window is not on the shared screen: it is not shown.
    s.feed(b"%session-window-changed $0 @1");
    answer(&mut s, &[&second.replace(" 1 1 0 ", " 0 1 0 ")]);
    assert_eq!(s.active, None);
    let (v, _) = texts(
        &s,
        &Request {
            pane: Some("%1".into()),
            ..newest()
        },
    );
    assert_eq!(v["error"], "pane %1 is not on the shared screen now");
    // Once the client has ended, nobody waits for it.
    let mut waiting = s.sync();
    s.feed(b"%exit");
    assert!(s.ended.is_some());
    assert!(waiting.try_recv().is_err() && s.sync().try_recv().is_err());
    assert_eq!(expected(&s), "");
}

#[test]
fn rows_keep_their_style_and_full_screen_programs_are_not_history() {
    let mut s = State::new();
    s.begin(None);
    answer(&mut s, &["%0 0 0 20 3 0 2 1 1 0 4294967295 4294967295 0 2"]);
    s.feed(br"%output %0 \033[31mred\033[m plain\015\012next\015\012\033[?1049halt1\015\012alt2\015\012alt3\015\012alt4\033[?1049l\015\012");
    let (v, rows) = texts(&s, &newest());
    assert_eq!(rows, ["red plain"]);
    assert_eq!(
        v["rows"][0],
        serde_json::json!([{"t": "red", "fg": 1}, {"t": " plain"}])
    );
}

#[test]
fn a_pane_made_smaller_keeps_the_rows_it_pushes_off_whole() {
    let mut s = State::new();
    s.begin(None);
    answer(&mut s, &["%0 0 0 20 3 0 0 1 1 0 4294967295 4294967295 0 2"]);
    s.feed(br"%output %0 abcdefghijklmnop\015\012second\015\012third");
    s.feed(b"%layout-change @0 x y *");
    answer(&mut s, &["%0 0 0 10 2 5 1 1 1 0 4294967295 4294967295 0 1"]);
    assert_eq!(texts(&s, &newest()).1, ["abcdefghijklmnop"]);
    s.feed(br"%output %0 \015\012fourth");
    assert_eq!(texts(&s, &newest()).1, ["abcdefghijklmnop", "second"]);
}

#[test]
fn a_row_of_spaces_and_escapes_is_blank() {
    assert!(blank(""));
    assert!(blank("   \x1b[31;1m  \x1b[m"));
    assert!(!blank("\x1b[31mx"));
    assert!(!blank("  m"));
    // A kept row comes back as the frame row it was, colours and all.
    assert_eq!(
        encode_kept(10, "a\x1b[31mb\x1b[m界", true),
        r#"[{"t":"a"},{"t":"b","fg":1},{"t":"界","w":1}]"#
    );
}

#[test]
fn history_is_bounded_and_paged() {
    let mut sb = Scrollback::default();
    for i in 0..HISTORY_ROWS + 5 {
        sb.push(80, format!("[{i}]"));
    }
    assert_eq!(sb.rows.len(), HISTORY_ROWS);
    assert_eq!((sb.start(), sb.total), (5, HISTORY_ROWS as u64 + 5));
    let (first, rows) = sb.page(None, None);
    assert_eq!(first, sb.total - PAGE_ROWS as u64);
    assert_eq!(rows.len(), PAGE_ROWS);
    assert_eq!(
        rows.last().map(|r| &*r.1),
        Some(&*format!("[{}]", HISTORY_ROWS + 4))
    );
    // Older pages end at the oldest row kept.
    let (first, rows) = sb.page(Some(105), None);
    assert_eq!((first, rows.len()), (5, 100));
    assert_eq!(&*rows[0].1, "[5]");
    let (first, rows) = sb.page(Some(3), None);
    assert_eq!((first, rows.len()), (5, 0));
    // Newer pages start where asked.
    let (first, rows) = sb.page(None, Some(sb.total - 2));
    assert_eq!((first, rows.len()), (sb.total - 2, 2));
    let (_, rows) = sb.page(None, Some(sb.total + 9));
    assert!(rows.is_empty());

    // Bytes are bounded too: huge rows push out old ones.
    let mut sb = Scrollback::default();
    let big = "x".repeat(HISTORY_BYTES / 4);
    for _ in 0..10 {
        sb.push(80, big.clone());
    }
    assert!(
        sb.bytes <= HISTORY_BYTES && sb.rows.len() == 4,
        "{}",
        sb.rows.len()
    );
    // An answer holds about PAGE_BYTES at most, and never nothing.
    let (_, rows) = sb.page(None, None);
    assert_eq!(rows.len(), 1);
}
