//! What guests see: the current screen at once, colours, full-screen programs, scroll regions.

use crate::util::*;

#[test]
fn a_late_guest_sees_the_current_screen_with_its_colours() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let np = Npair::start(&tmux, "fun", &[]);
    tmux.send(
        "fun",
        &[
            "printf '\\033[31mRED\\033[0m \\033[1;42mBOLDGREEN\\033[0m plain\\n'",
            "Enter",
        ],
    );
    tmux.wait_pane("fun", "the coloured line", |t| {
        t.contains("RED BOLDGREEN plain")
    });

    let guest = Term::guest(np.port(), &np.rw(), 80, 24);
    guest.wait_text("RED BOLDGREEN plain");
    wait_rows_match(&tmux, "fun", &guest, 0);

    // Colours, cell by cell, against tmux's own capture of the pane.
    let pane = pane_screen(&tmux, "fun", 80, 23);
    let g = guest.screen.lock().unwrap();
    assert_same_colours(pane.screen(), g.screen(), 23, 80);
    let coloured = (0..23)
        .flat_map(|r| (0..80).map(move |c| (r, c)))
        .map(|(r, c)| pane.screen().cell(r, c).unwrap())
        .filter(|cell| {
            cell.fgcolor() != vt100::Color::Default || cell.bgcolor() != vt100::Color::Default
        })
        .count();
    assert!(
        coloured >= "REDBOLDGREEN".len(),
        "the capture had no colours to compare"
    );
}

#[test]
fn a_late_guest_joins_into_a_full_screen_program() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let file = tmux.path().join("notes.txt");
    std::fs::write(&file, "first line of the file\nsecond line\n").unwrap();
    let np = Npair::start(&tmux, "fun", &[]);
    tmux.send(
        "fun",
        &[&format!("vim -u NONE -N {}", file.display()), "Enter"],
    );
    tmux.wait_pane("fun", "vim", |t| {
        t.contains("first line of the file") && t.contains('~')
    });

    let guest = Term::guest(np.port(), &np.ro(), 80, 24);
    guest.wait_text("second line");
    wait_rows_match(&tmux, "fun", &guest, 0);
    assert!(guest.screen.lock().unwrap().screen().alternate_screen());

    // And it follows what happens next.
    tmux.send("fun", &["Escape", ":q!", "Enter"]);
    tmux.wait_pane("fun", "the shell back", |t| {
        !t.contains("first line of the file")
    });
    wait_rows_match(&tmux, "fun", &guest, 0);
}

#[test]
fn a_guest_joining_mid_scroll_follows_a_scrolling_region() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let np = Npair::start(&tmux, "fun", &[]);
    // Two panes, top and bottom: output in the top pane scrolls a region of the screen.
    tmux.run(&["split-window", "-v", "-t", "fun", "env PS1='$ ' sh"]);
    tmux.send("fun.1", &["echo bottom-pane-stays", "Enter"]);
    tmux.send("fun.0", &["seq 1 50", "Enter"]);
    tmux.wait_pane("fun.0", "the first scroll", |t| t.contains("50"));

    let guest = Term::guest(np.port(), &np.ro(), 80, 24);
    let panes = tmux.panes("fun");
    wait_rows_match(&tmux, "fun.0", &guest, panes[0].0);

    // Scrolling after the join uses the region tmux set before it.
    tmux.send("fun.0", &["seq 1000 1200", "Enter"]);
    tmux.wait_pane("fun.0", "the second scroll", |t| t.contains("1200"));
    wait_rows_match(&tmux, "fun.0", &guest, panes[0].0);
    wait_rows_match(&tmux, "fun.1", &guest, panes[1].0);
    assert!(guest.text().contains("bottom-pane-stays"));
}
