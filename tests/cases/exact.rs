//! Exact repaints: a guest that joins late, or is repainted after falling behind, ends with
//! exactly the cells (text and every attribute) of a guest present from the start.
//!
//! The guests' terminals are real ones: each guest is OpenSSH running in a pane of a second,
//! private tmux server (the "viewer"), whose `capture-pane -e` gives every cell's text and
//! attributes as that terminal holds them. A fixed corpus of byte streams is played into the
//! shared session; after each, a new guest joins and must converge to the early guest's screen.

use std::time::{Duration, Instant};

use crate::util::browser::{css, page_colour};
use crate::util::*;

const COLS: u16 = 80;
const ROWS: u16 = 24;

/// The corpus: (name, bytes). Each is played with `cat` in the shared session's shell.
pub fn corpus() -> Vec<(&'static str, Vec<u8>)> {
    let mut colours256 = String::new();
    for i in 0..256 {
        colours256.push_str(&format!("\x1b[38;5;{i}m#\x1b[48;5;{}m.", 255 - i));
        if i % 32 == 31 {
            colours256.push_str("\x1b[m\r\n");
        }
    }
    let mut truecolour = String::new();
    for row in 0..3 {
        for c in 0..64u32 {
            let (r, g, b) = (c * 4, 255 - c * 4, (row * 100 + c) % 256);
            truecolour.push_str(&format!(
                "\x1b[48;2;{r};{g};{b}m\x1b[38;2;{b};{r};{g}m{}",
                c % 10
            ));
        }
        truecolour.push_str("\x1b[m\r\n");
    }
    let last_column = format!("{}界 wrapped\r\n{} é\r\n", "x".repeat(79), "y".repeat(78));
    vec![
        (
            "attributes",
            concat!(
                "x \x1b[1mbold\x1b[22;2mdim\x1b[0m \x1b[9mstrike\x1b[0m \x1b[5mblink\x1b[0m ",
                "\x1b[8mhidden\x1b[0m end\r\n",
                "\x1b[1;2mbolddim\x1b[0m \x1b[3mitalic\x1b[23m \x1b[7minverse\x1b[27m ",
                "\x1b[4munder\x1b[24m \x1b[21mdouble\x1b[0m \x1b[53mover\x1b[0m ",
                "\x1b[1;3;4;9;31;43mall\x1b[0m\r\n",
            )
            .into(),
        ),
        (
            "underline styles and colours",
            concat!(
                "\x1b[4:3mcurly\x1b[0m \x1b[4:4mdotted\x1b[0m \x1b[4:5mdashed\x1b[0m ",
                "\x1b[4:2mdouble\x1b[0m \x1b[4;58;5;196mred\x1b[0m ",
                "\x1b[4:3;58:2::0:128:255mblue-curly\x1b[0m\r\n",
            )
            .into(),
        ),
        ("256 colours", colours256.into()),
        ("true colour", truecolour.into()),
        (
            "emoji and combining",
            concat!(
                "\u{1F468}\u{200d}\u{1F469}\u{200d}\u{1F467} end\r\n",
                "1\u{fe0f}\u{20e3} end\r\n",
                "\u{1F3F3}\u{fe0f}\u{200d}\u{1F308} end\r\n",
                "e\u{301} cafe\u{301} 界界 한국어 \u{1F600}x\r\n",
            )
            .into(),
        ),
        ("wide in the last column", last_column.into()),
        (
            "right to left",
            "rtl: שלום עולם | مرحبا بالعالم | עברית 123 abc\r\n".into(),
        ),
        ("scroll region", {
            let mut s = String::from("\x1b[5;15r\x1b[15;1H");
            for i in 0..30 {
                s.push_str(&format!("\x1b[3{}mregion line {i}\x1b[m\r\n", i % 8));
            }
            s.push_str("\x1b[r\x1b[24;1H\r\n");
            s.into()
        }),
        (
            "alternate screen",
            concat!(
                "\x1b[?1049h\x1b[2J\x1b[H\x1b[1;31malt screen\x1b[0m \x1b[9mstruck\x1b[0m ",
                "\x1b[2mdim\x1b[0m\r\n\u{1F468}\u{200d}\u{1F469}\u{200d}\u{1F467}\r\n",
            )
            .into(),
        ),
        ("main screen again", "\x1b[?1049l".into()),
    ]
}

/// A second tmux server whose panes are the guests' terminals.
struct Viewer {
    tmux: Tmux,
    port: u16,
}

impl Viewer {
    fn new(port: u16) -> Viewer {
        Viewer {
            tmux: Tmux::new(),
            port,
        }
    }

    /// Opens a guest: `ssh` with `token` in a new session (a whole terminal, no status line).
    fn open(&self, name: &str, token: &str) {
        let mut ssh = vec!["ssh".to_owned(), "-tt".to_owned()];
        ssh.extend(interactive_ssh_options(self.port));
        ssh.push(format!("{token}@127.0.0.1"));
        self.open_with(name, &ssh.join(" "));
    }

    /// Opens a guest that runs Dropbear's `dbclient`, whose receive window is small (24 KiB):
    /// when it stops reading, npair's side of it is full after a little output, not megabytes.
    fn open_dbclient(&self, name: &str, token: &str) {
        let home = self.tmux.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        // -y -y: accept the (test) host key without writing a known_hosts file. `; true` keeps
        // the shell as the pane's process, so that dbclient is not, and tmux does not wake it
        // when it is stopped.
        let cmd = format!(
            "env HOME={} dbclient -y -y -t -p {} {token}@127.0.0.1; true",
            home.display(),
            self.port
        );
        self.open_with(name, &cmd);
    }

    fn open_with(&self, name: &str, cmd: &str) {
        let (c, r) = (COLS.to_string(), ROWS.to_string());
        let mut args = vec!["new-session", "-d", "-s", name, "-x", &c, "-y", &r];
        args.push(cmd);
        args.extend([";", "set", "-g", "status", "off"]);
        self.tmux.run(&args);
    }

    /// The guest's screen as its terminal holds it: every cell's text and attributes.
    fn screen(&self, name: &str) -> String {
        self.tmux
            .run(&["capture-pane", "-p", "-e", "-N", "-t", name])
    }

    /// The guest's screen as text.
    fn text(&self, name: &str) -> String {
        self.tmux.capture(name)
    }

    /// The process that the pane's shell started: the guest's client.
    fn client_pid(&self, name: &str) -> i32 {
        let shell = self
            .tmux
            .run(&["display-message", "-p", "-t", name, "#{pane_pid}"]);
        let out = std::process::Command::new("pgrep")
            .args(["-P", shell.trim()])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("the pane's shell has one child, the client")
    }

    fn close(&self, name: &str) {
        self.tmux.run(&["kill-session", "-t", name]);
    }
}

/// Two screens are the same when every line is, but for blank cells at its end: a cell that
/// was written with a blank and one never written look alike.
fn same(a: &str, b: &str) -> bool {
    a.lines()
        .map(trim_blank_end)
        .eq(b.lines().map(trim_blank_end))
}

/// A captured line without its blank end: spaces, and resets to the default colours or
/// attributes among them, which draw nothing.
fn trim_blank_end(line: &str) -> &str {
    let mut l = line;
    loop {
        let t = l.trim_end_matches(' ');
        let t = ["\x1b[39m", "\x1b[49m", "\x1b[0m", "\x1b[m"]
            .iter()
            .find_map(|r| t.strip_suffix(r))
            .unwrap_or(t);
        if t.len() == l.len() {
            return l;
        }
        l = t;
    }
}

/// Waits (bounded) until `late` shows exactly what `early` does; fails with both screens.
fn converge(v: &Viewer, early: &str, late: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (a, b) = (v.screen(early), v.screen(late));
        if same(&a, &b) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: the {late} guest's screen differs from the early guest's\n\
             early:\n{a:?}\n{late}:\n{b:?}\nfirst differing line: {:?}",
            a.lines().zip(b.lines()).find(|(x, y)| x != y)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Plays a corpus entry in the shared session and waits for the early guest to show its end.
fn play(tmux: &Tmux, v: &Viewer, i: usize, bytes: &[u8]) {
    let file = tmux.path().join(format!("corpus-{i}"));
    std::fs::write(&file, bytes).unwrap();
    let mark = format!("DONE-{i}");
    tmux.send(
        "fun",
        &[
            &format!("cat {}; echo DONE-; echo {i}", file.display()),
            "Enter",
        ],
    );
    wait_until(&format!("the early guest to show {mark}"), || {
        let s = v.text("early");
        let lines: Vec<&str> = s.lines().map(str::trim_end).collect();
        // "DONE-" and the number are echoed apart, so the command line itself does not match.
        if lines
            .windows(2)
            .any(|w| w[0] == "DONE-" && w[1] == i.to_string())
        {
            Ok(())
        } else {
            Err(s)
        }
    });
}

/// A shared session ("fun", `extra` arguments to the share) with an early guest in before any
/// of the corpus is played.
fn with_early_guest(extra: &[&str]) -> (Tmux, Npair, Viewer) {
    let tmux = Tmux::new();
    tmux.new_session("fun", COLS, ROWS);
    let np = Npair::start(&tmux, "fun", extra);
    let v = Viewer::new(np.port());
    v.open("early", &np.ro());
    wait_guests(&tmux, 1);
    (tmux, np, v)
}

#[test]
fn a_late_joiner_ends_exactly_as_an_early_guest_for_every_corpus_entry() {
    let (tmux, np, v) = with_early_guest(&[]);
    for (i, (name, bytes)) in corpus().iter().enumerate() {
        play(&tmux, &v, i, bytes);
        if *name == "underline styles and colours" {
            // The headless client claims styled and coloured underlines: an early guest's
            // terminal gets them as the program wrote them, not as a plain underline.
            let early = v.screen("early");
            assert!(
                early.contains("\x1b[4:3m") && early.contains("\x1b[58;"),
                "no curly or coloured underline reached the guest:\n{early:?}"
            );
        }
        let late = format!("late{i}");
        v.open(&late, &np.ro());
        converge(&v, "early", &late, name);
        v.close(&late);
    }
}

#[test]
fn a_guest_repainted_after_falling_behind_ends_exactly_as_an_early_guest() {
    let (tmux, np, v) = with_early_guest(&[]);
    v.open_dbclient("stalled", &np.ro());
    let guests = wait_guests(&tmux, 2);
    let stalled_pid = v.client_pid("stalled");
    let corpus = corpus();
    // The stalled guest stops reading; a flood of colours (every cell a new colour, so
    // that tmux cannot send less than it draws) fills the buffers on the way to it and puts it
    // a whole ring behind.
    let mut screen = String::from("\x1b[H");
    for row in 0..ROWS - 2 {
        for col in 0..COLS {
            let (r, g) = (u32::from(row) * 11 % 256, u32::from(col) * 3);
            screen.push_str(&format!("\x1b[38;2;{r};{g};7;48;2;{g};{r};9m{}", col % 10));
        }
        screen.push_str("\x1b[m\r\n");
    }
    let flood = tmux.path().join("flood");
    std::fs::write(&flood, screen).unwrap();
    unsafe { libc::kill(stalled_pid, libc::SIGSTOP) };
    tmux.send(
        "fun",
        &[
            &format!(
                "i=0; while [ $i -lt 150 ]; do cat {}; i=$((i+1)); done; clear",
                flood.display()
            ),
            "Enter",
        ],
    );
    for (i, (_, bytes)) in corpus.iter().enumerate().take(5) {
        play(&tmux, &v, i, bytes);
    }
    unsafe { libc::kill(stalled_pid, libc::SIGCONT) };
    converge(&v, "early", "stalled", "after a stall");
    // It was repainted, not replayed: it received far fewer bytes than the early guest.
    let sent: Vec<u64> = guests_now(&tmux, &guests);
    assert!(
        sent[1] * 2 < sent[0],
        "the stalled guest got {} bytes and the early one {}: it was replayed, not repainted",
        sent[1],
        sent[0]
    );
}

/// Bytes sent so far to each of `guests` (as first listed), from `npair status --json`.
fn guests_now(tmux: &Tmux, first: &[serde_json::Value]) -> Vec<u64> {
    let now = guests(tmux);
    first
        .iter()
        .map(|g| {
            now.iter()
                .find(|n| id_of(n) == id_of(g))
                .and_then(|n| n["bytes_sent"].as_u64())
                .expect("the guest is still listed with its bytes")
        })
        .collect()
}

/// The page's default colours (`--fg` and `--bg` in its style sheet) and a cell's background
/// when it has none of its own, as the browser computes them.
const PAGE_FG: (u8, u8, u8) = (0xd0, 0xd0, 0xd0);
const PAGE_BG: (u8, u8, u8) = (0x11, 0x11, 0x11);
const NO_BACKGROUND: &str = "rgba(0, 0, 0, 0)";

/// What the page must show for a cell of a real terminal: the `look` of `PAGE_GRID`.
fn look(cell: &vt100::Cell) -> String {
    let (mut fg, mut bg) = (page_colour(cell.fgcolor()), page_colour(cell.bgcolor()));
    if cell.inverse() {
        (fg, bg) = (Some(bg.unwrap_or(PAGE_BG)), Some(fg.unwrap_or(PAGE_FG)));
    }
    let fg = css(fg.unwrap_or(PAGE_FG));
    let bg = bg.map_or(NO_BACKGROUND.to_owned(), css);
    let underline = cell.underline_style();
    let lines: Vec<&str> = [
        (underline != vt100::UnderlineStyle::None, "underline"),
        (cell.overline(), "overline"),
        (cell.strikethrough(), "line-through"),
    ]
    .iter()
    .filter_map(|&(on, name)| on.then_some(name))
    .collect();
    let decoration_style = match underline {
        vt100::UnderlineStyle::Double => "double",
        vt100::UnderlineStyle::Curly => "wavy",
        vt100::UnderlineStyle::Dotted => "dotted",
        vt100::UnderlineStyle::Dashed => "dashed",
        _ => "solid",
    };
    let decoration_colour = match page_colour(cell.underline_color()) {
        Some(c) if !lines.is_empty() => css(c),
        _ => fg.clone(),
    };
    [
        fg,
        bg,
        if cell.bold() { "700" } else { "400" }.to_owned(),
        if cell.dim() { "0.6" } else { "1" }.to_owned(),
        if cell.italic() { "italic" } else { "normal" }.to_owned(),
        if lines.is_empty() {
            "none".to_owned()
        } else {
            lines.join(" ")
        },
        decoration_style.to_owned(),
        decoration_colour,
        if cell.blink() { "npair-blink" } else { "none" }.to_owned(),
    ]
    .join("|")
}

type Grid = Vec<Vec<(u16, String, String)>>;

/// The grid the page must show for a terminal's `capture-pane -e` (every cell, with the
/// column it starts at; concealed text as blanks, as the page must never show it).
/// `vs16_wide`: the terminal, tmux, counts U+FE0F as widening.
fn expected_grid(capture: &str, vs16_wide: bool) -> Grid {
    let mut p = vt100::Parser::new(
        std::num::NonZeroU16::new(ROWS).unwrap(),
        std::num::NonZeroU16::new(COLS).unwrap(),
        0,
    );
    // A terminal made of tmux counts columns as tmux does.
    p.screen_mut().set_vs16_wide(vs16_wide);
    // tmux 3.3's capture writes overline (SGR 53) as "5:3"; read it as what it means.
    let capture = capture.replace("5:3m", "53m").replace("5:3;", "53;");
    p.process(
        capture
            .trim_end_matches('\n')
            .replace('\n', "\r\n")
            .as_bytes(),
    );
    let screen = p.screen();
    (0..ROWS)
        .map(|r| {
            (0..COLS)
                .filter_map(|c| {
                    let cell = screen.cell(r, c)?;
                    if cell.is_wide_continuation() {
                        return None;
                    }
                    let blank = if cell.is_wide() { "  " } else { " " };
                    let text = match cell.contents() {
                        "" => blank,
                        _ if cell.concealed() => blank,
                        t => t,
                    };
                    Some((c, text.to_owned(), look(cell)))
                })
                .collect()
        })
        .collect()
}

/// A grid without the blank default cells at the end of each row, which the page leaves out.
fn trimmed(mut grid: Grid) -> Grid {
    let plain = look(
        &vt100::Parser::default()
            .screen()
            .cell(0, 0)
            .unwrap()
            .clone(),
    );
    for row in &mut grid {
        while row
            .last()
            .is_some_and(|(_, t, l)| t.trim().is_empty() && *l == plain)
        {
            row.pop();
        }
    }
    grid
}

#[test]
fn the_web_page_shows_every_cell_as_an_early_guest_sees_it() {
    let (tmux, np, v) = with_early_guest(&["--web", "127.0.0.1:0"]);
    let mut page = crate::util::browser::Browser::open(&np.web_url(), 1200, 800);
    page.wait_for("live", "document.getElementById('state').className", |s| {
        s == "live"
    });
    let version = v.tmux.run(&["-V"]);
    let vs16_wide = npair::tmux::counts_vs16_wide(&version);
    for (i, (name, bytes)) in corpus().iter().enumerate() {
        play(&tmux, &v, i, bytes);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let want = trimmed(expected_grid(&v.screen("early"), vs16_wide));
            let shown = page.eval(crate::util::browser::PAGE_GRID);
            let got: Grid = trimmed(serde_json::from_str(shown.as_str().unwrap()).unwrap());
            if got == want {
                break;
            }
            if Instant::now() > deadline {
                let (r, (w, g)) = want
                    .iter()
                    .zip(&got)
                    .enumerate()
                    .find(|(_, (w, g))| w != g)
                    .expect("the rows differ in number");
                let c = w.iter().zip(g.iter()).position(|(a, b)| a != b);
                panic!(
                    "{name}: the page differs from the early guest in row {r}, at cell {c:?}:\n\
                     early guest: {:?}\npage:        {:?}\n\
                     the row, early guest: {:?}\nthe row, page:        {:?}",
                    c.map(|c| &w[c]),
                    c.map(|c| &g[c]),
                    w,
                    g,
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}
