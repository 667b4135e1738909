//! Terminals of different sizes, as pairs have them: the host on a monitor, a guest on a laptop
//! that is smaller, another on a wide screen, and windows resized mid-session. Every terminal
//! larger than the session shows the session exactly as a direct `tmux attach` of the
//! session's size shows it, cell for cell, and nothing stale anywhere outside it.
//!
//! The host's terminal here is a pane of a second tmux server, as the bug was found: its screen
//! is read with `capture-pane -e`, and so is the direct attach it is compared with.

use std::ffi::OsString;

use crate::util::*;

/// A terminal that is a pane of the second (outer) tmux server.
struct Pane<'a> {
    outer: &'a Tmux,
    name: &'static str,
}

impl<'a> Pane<'a> {
    fn start(outer: &'a Tmux, name: &'static str, size: (u16, u16), line: &str) -> Pane<'a> {
        let (cols, rows) = (size.0.to_string(), size.1.to_string());
        // Kept open when the program ends, so that a failure shows what it said.
        let line = format!("{line}; echo exited $?; sleep 600");
        outer.run(&[
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            &cols,
            "-y",
            &rows,
            &line,
        ]);
        Pane { outer, name }
    }

    fn resize(&self, cols: u16, rows: u16) {
        let (c, r) = (cols.to_string(), rows.to_string());
        self.outer
            .run(&["resize-window", "-t", self.name, "-x", &c, "-y", &r]);
    }

    /// The pane's screen as a terminal model: its cells with their colours and attributes, and
    /// its cursor.
    fn screen(&self) -> vt100::Parser {
        let out = self.outer.run(&[
            "display-message",
            "-p",
            "-t",
            self.name,
            "#{pane_width} #{pane_height} #{cursor_x} #{cursor_y}",
        ]);
        let v: Vec<u16> = out.split_whitespace().map(|n| n.parse().unwrap()).collect();
        let text = self.outer.capture_escapes(self.name);
        let nz = |n: u16| std::num::NonZeroU16::new(n).unwrap();
        let mut p = vt100::Parser::new(nz(v[1]), nz(v[0]), 0);
        p.process(text.trim_end_matches('\n').replace('\n', "\r\n").as_bytes());
        p.process(format!("\x1b[m\x1b[{};{}H", v[3] + 1, v[2] + 1).as_bytes());
        p
    }
}

impl Drop for Pane<'_> {
    fn drop(&mut self) {
        let _ = self
            .outer
            .command()
            .args(["kill-session", "-t", self.name])
            .output();
    }
}

/// What a direct `tmux attach` of exactly `cols` x `rows` shows of the session: a read-only
/// client that leaves the session's size alone, in a pane of the outer server.
fn direct_attach(tmux: &Tmux, outer: &Tmux, session: &str, cols: u16, rows: u16) -> vt100::Parser {
    let args: Vec<OsString> = [
        "attach-session",
        "-f",
        "ignore-size,read-only",
        "-t",
        session,
    ]
    .map(Into::into)
    .to_vec();
    let pane = Pane::start(
        outer,
        "direct",
        (cols, rows),
        &tmux.shell_line("tmux", &args),
    );
    // Drawn when the status line is there and nothing moves any more (the cursor is placed
    // last).
    wait_until("the direct attach to draw the session", || {
        let p = pane.screen();
        let last = p.screen().rows(0, cols).nth(rows as usize - 1).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200));
        let again = pane.screen();
        let same = again.screen().contents_formatted() == p.screen().contents_formatted();
        if last.contains("static-status") && same {
            Ok(p)
        } else {
            Err(p.screen().contents())
        }
    })
}

/// Where `larger` differs from what it must show: `session`'s cells in its top left corner,
/// its cursor where `session` has it, and default blanks everywhere else.
fn differences(session: &vt100::Screen, larger: &vt100::Screen) -> Vec<String> {
    let (rows, cols) = session.size();
    let (rows, cols) = (rows.get(), cols.get());
    let (term_rows, term_cols) = larger.size();
    let (term_rows, term_cols) = (term_rows.get(), term_cols.get());
    // A written space and a cell never written look the same.
    let look = |c: &vt100::Cell| {
        (
            c.contents().trim().to_owned(),
            c.fgcolor(),
            c.bgcolor(),
            [c.bold(), c.italic(), c.inverse(), c.underline()],
        )
    };
    let mut diffs = Vec::new();
    for r in 0..term_rows {
        for c in 0..term_cols {
            let cell = larger.cell(r, c).unwrap();
            let bad = if r < rows && c < cols {
                let want = session.cell(r, c).unwrap();
                look(want) != look(cell)
            } else {
                !cell.contents().trim().is_empty()
                    || cell.bgcolor() != vt100::Color::Default
                    || cell.inverse()
            };
            if bad {
                diffs.push(format!("cell {r},{c}: {:?}", look(cell)));
            }
        }
    }
    if session.cursor_position() != larger.cursor_position() {
        diffs.push(format!(
            "cursor {:?}, not {:?}",
            larger.cursor_position(),
            session.cursor_position()
        ));
    }
    diffs
}

/// Waits until `what` (a terminal read by `read`) shows what the direct attach of the
/// session's size shows, and nothing outside it.
fn wait_matches(what: &str, direct: &vt100::Parser, read: impl Fn() -> vt100::Screen) {
    wait_until(
        &format!("{what} to show what a direct attach shows"),
        || {
            let larger = read();
            let diffs = differences(direct.screen(), &larger);
            if diffs.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "{} cells differ ({}...)\nit shows:\n{}\na direct attach shows:\n{}",
                    diffs.len(),
                    diffs[..diffs.len().min(5)].join("; "),
                    larger.contents(),
                    direct.screen().contents()
                ))
            }
        },
    );
}

/// Long lines that tmux leaves to the terminal to wrap, a coloured background on a prompt that
/// erases to the end of its line, and a status line: what the stale screen was made of.
fn fill(tmux: &Tmux) {
    tmux.send(
        "fun",
        &[
            "for i in 1 2 3 4 5 6 7 8 9; do printf 'line %s %0100d\\n' $i 0; done; printf '\\033[44mblue\\033[K\\033[m\\n'",
            "Enter",
        ],
    );
    tmux.wait_pane("fun", "the lines", |t| t.contains("blue"));
}

#[test]
fn a_host_beside_a_smaller_guest_sees_the_session_exactly_through_joins_resizes_and_leaves() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 120, 35);
    // A status line that stays put: no clock, and a window name that automatic renaming
    // does not change while one client has drawn it and the other not yet.
    tmux.run(&["set-option", "-g", "status-right", "static-status"]);
    tmux.run(&["rename-window", "-t", "fun:0", "main"]);
    fill(&tmux);
    let outer = Tmux::new();
    let share = tmux.shell_line(npair_bin(), &share_args(&tmux, &["fun"]));
    let host = Pane::start(&outer, "host", (120, 35), &share);
    tmux.wait_client_size("120x35");
    let login = wait_until("npair status", || {
        let out = tmux.npair(&["status", "--json"]);
        let v: serde_json::Value =
            serde_json::from_slice(&out.stdout).map_err(|e| format!("{e}: {out:?}"))?;
        Ok(v)
    });
    let rw = login["logins"]["rw_command"].as_str().unwrap().to_owned();
    let ro = login["logins"]["ro_command"].as_str().unwrap().to_owned();
    let token = |cmd: &str| {
        cmd.split(' ')
            .nth(3)
            .unwrap()
            .split('@')
            .next()
            .unwrap()
            .to_owned()
    };
    let port: u16 = rw.split(' ').nth(2).unwrap().parse().unwrap();

    // A laptop smaller than the host's monitor.
    let laptop = Term::guest(port, &token(&rw), 70, 20);
    tmux.wait_client_size("70x20");
    fill(&tmux);
    let direct = direct_attach(&tmux, &outer, "fun", 70, 20);
    wait_matches("the host's terminal", &direct, || {
        host.screen().screen().clone()
    });
    drop(direct);

    // A read-only guest on a wide screen, larger than the session too.
    let wide = Term::guest(port, &token(&ro), 200, 50);
    wide.wait_text("blue");
    tmux.send("fun", &["clear; printf 'after the wide guest\\n'", "Enter"]);
    tmux.wait_pane("fun", "the new line", |t| t.contains("after the wide"));
    let direct = direct_attach(&tmux, &outer, "fun", 70, 20);
    wait_matches("the host's terminal", &direct, || {
        host.screen().screen().clone()
    });
    wait_matches("the wide guest's terminal", &direct, || {
        wide.screen.lock().unwrap().screen().clone()
    });
    drop(direct);

    // The laptop's window grows, still smaller than the host's: the session follows.
    laptop.resize(100, 30);
    tmux.wait_client_size("100x30");
    fill(&tmux);
    let direct = direct_attach(&tmux, &outer, "fun", 100, 30);
    wait_matches("the host's terminal", &direct, || {
        host.screen().screen().clone()
    });
    drop(direct);

    // The host's window grows; the session keeps the laptop's size, and the host is repainted.
    host.resize(130, 40);
    std::thread::sleep(std::time::Duration::from_millis(300));
    tmux.wait_client_size("100x30");
    let direct = direct_attach(&tmux, &outer, "fun", 100, 30);
    wait_matches("the host's resized terminal", &direct, || {
        host.screen().screen().clone()
    });
    drop(direct);

    // The laptop leaves: the session is the host's size again.
    drop(laptop);
    tmux.wait_client_size("130x40");
    fill(&tmux);
    let direct = direct_attach(&tmux, &outer, "fun", 130, 40);
    wait_matches("the host's terminal", &direct, || {
        host.screen().screen().clone()
    });
}

#[test]
fn a_host_sharing_a_fixed_size_smaller_than_its_terminal_sees_it_exactly() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 120, 35);
    // A status line that stays put: no clock, and a window name that automatic renaming
    // does not change while one client has drawn it and the other not yet.
    tmux.run(&["set-option", "-g", "status-right", "static-status"]);
    tmux.run(&["rename-window", "-t", "fun:0", "main"]);
    let outer = Tmux::new();
    let share = tmux.shell_line(
        npair_bin(),
        &share_args(&tmux, &["fun", "--size-policy", "100x30"]),
    );
    let host = Pane::start(&outer, "host", (120, 35), &share);
    tmux.wait_client_size("100x30");
    fill(&tmux);
    let direct = direct_attach(&tmux, &outer, "fun", 100, 30);
    wait_matches("the host's terminal", &direct, || {
        host.screen().screen().clone()
    });
}
