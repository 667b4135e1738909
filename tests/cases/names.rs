//! Who is who, and who is typing: guests' names (a key's comment, the name a guest gives with
//! `SetEnv=NPAIR_NAME`, else `guest N`) in the status and the host's commands, and who is typing
//! in the host's status line, `npair status`, the web page and the recording.

use crate::keys::keygen;
use crate::util::browser::Browser;
use crate::util::*;

/// A guest that gives `name` (`ssh -o SetEnv=NPAIR_NAME=NAME`), plus any other ssh options.
fn named(port: u16, token: &str, name: &str, options: &[&str]) -> Term {
    let set = format!("SetEnv=NPAIR_NAME={name}");
    let mut all = vec!["-o", &set];
    all.extend_from_slice(options);
    Term::guest_with(port, token, 80, 24, &all)
}

/// The line of `npair status` that lists guest `id` (its id, then its role).
fn status_line(text: &str, id: &str) -> String {
    text.lines()
        .find(|l| {
            let mut words = l.split_whitespace();
            words.next() == Some(id) && matches!(words.next(), Some("rw" | "ro" | "web"))
        })
        .unwrap_or_else(|| panic!("no line for guest {id} in\n{text}"))
        .to_owned()
}

#[test]
fn a_guest_is_known_by_the_name_it_gives_and_one_without_as_guest_n() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let np = Npair::start(&tmux, "fun", &[]);
    let alice = named(np.port(), &np.rw(), "alice", &[]);
    alice.wait_text("$");
    wait_guests(&tmux, 1);
    let anon = Term::guest(np.port(), &np.ro(), 80, 24);
    anon.wait_text("$");
    let list = wait_guests(&tmux, 2);
    let (a, n) = (id_of(&list[0]), id_of(&list[1]));
    assert_eq!(list[0]["name"], "alice");
    assert_eq!(list[1]["name"], format!("guest {n}"));
    np.wait_stderr(&format!("alice (guest {a}, rw) joined from 127.0.0.1"));
    np.wait_stderr(&format!("guest {n} (ro) joined from 127.0.0.1"));

    let text = tmux.npair_ok(&["status"]);
    assert!(text.contains("NAME"), "{text}");
    assert!(status_line(&text, &a).contains(" alice "), "{text}");
    assert!(
        status_line(&text, &n).contains(&format!(" guest {n} ")),
        "{text}"
    );
}

#[test]
fn with_authorized_keys_a_guest_is_known_by_its_key_comment() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let key = keygen(&tmux, "bob@laptop");
    let public = key.with_extension("pub");
    let np = Npair::start(
        &tmux,
        "fun",
        &["--authorized-keys", public.to_str().unwrap()],
    );
    // The key's comment is the host's word for who holds it: a name the guest gives does not
    // replace it.
    let options = ["-o", "IdentitiesOnly=yes", "-i", key.to_str().unwrap()];
    let bob = named(np.port(), &np.rw(), "robert", &options);
    bob.wait_text("$");
    let list = wait_guests(&tmux, 1);
    assert_eq!(list[0]["name"], "bob@laptop");
    let text = tmux.npair_ok(&["status"]);
    assert!(
        status_line(&text, &id_of(&list[0])).contains(" bob@laptop "),
        "{text}"
    );
    np.wait_stderr("bob@laptop (guest 1, rw) joined from 127.0.0.1");
}

#[test]
fn kick_and_promote_take_a_name_and_refuse_one_that_fits_several_guests_or_none() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let np = Npair::start(&tmux, "fun", &[]);
    // One at a time, so that their ids are in this order.
    let mut terms = vec![];
    for (i, (token, name)) in [(np.rw(), "alice"), (np.ro(), "bob"), (np.ro(), "bob")]
        .iter()
        .enumerate()
    {
        let g = named(np.port(), token, name, &[]);
        g.wait_text("$");
        wait_guests(&tmux, i + 1);
        terms.push(g);
    }

    let out = tmux.npair_ok(&["kick", "alice"]);
    assert!(out.contains("disconnected alice (guest 1)"), "{out}");
    let alice = &mut terms[0];
    alice.wait_exit();
    assert!(alice
        .raw_text()
        .contains("npair: the host disconnected you"));
    np.wait_stderr("alice (guest 1, rw) left");

    let out = tmux.npair(&["kick", "bob"]);
    assert_eq!(out.status.code(), Some(1));
    assert_stderr_has(
        &out,
        "2 guests are named 'bob': bob (id 2, ro, from 127.0.0.1:",
    );
    assert_stderr_has(&out, "bob (id 3, ro, from 127.0.0.1:");
    assert_stderr_has(&out, "give the id of the one you mean instead");
    let out = tmux.npair(&["promote", "fun", "carol"]);
    assert_eq!(out.status.code(), Some(1));
    assert_stderr_has(&out, "no guest is named 'carol'; the guests are: bob (id 2");
    // Refusals leave everyone in; the id, or `guest N`, says which bob.
    assert_eq!(wait_guests(&tmux, 2).len(), 2);
    let out = tmux.npair_ok(&["promote", "guest 3"]);
    assert!(out.contains("bob (guest 3) is now read-write"), "{out}");
    assert_eq!(guests(&tmux)[1]["role"], "rw");
}

#[test]
fn a_name_with_an_escape_sequence_or_too_long_refuses_the_guest_with_the_reason() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    tmux.send("fun", &["echo secret-on-screen", "Enter"]);
    tmux.wait_pane("fun", "the marker", |t| t.contains("secret-on-screen"));
    let np = Npair::start(&tmux, "fun", &[]);
    let long = "a".repeat(200);
    for (name, why) in [
        ("\x1b[31m", "has control characters"),
        (long.as_str(), "is 200 characters long"),
    ] {
        let mut guest = named(np.port(), &np.rw(), name, &[]);
        guest.wait_exit();
        let said = guest.raw_text();
        assert!(
            said.contains(&format!("npair: the name in NPAIR_NAME {why}")),
            "{said:?}"
        );
        assert!(said.contains("SetEnv=NPAIR_NAME=alice"), "{said:?}");
        assert!(
            !said.contains("secret-on-screen"),
            "a refused guest saw the session"
        );
        np.wait_stderr(&format!("the name it gave {why}"));
    }
    wait_guests(&tmux, 0);
    assert!(!np.stderr().contains("joined"), "{}", np.stderr());
}

#[test]
fn the_host_sees_who_is_typing_until_they_stop_and_status_says_when_each_last_typed() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 120, 30);
    let before = tmux.run(&["show-options", "-t", "fun", "status-right"]);
    let mut host = Term::host(&tmux, "fun", 120, 30);
    let info = host.json();
    host.wait_text("$");
    let port = info["ssh_port"].as_u64().unwrap() as u16;
    let token = info["rw_token"].as_str().unwrap().to_owned();
    let mut alice = named(port, &token, "alice", &[]);
    alice.wait_text("$");
    wait_guests(&tmux, 1);
    let mut bob = named(port, &token, "bob", &[]);
    bob.wait_text("$");
    host.wait_text("npair: 2 guests");

    alice.type_str("echo typed-by-alice");
    host.wait_text("alice typing  npair: 2 guests");
    let list = guests(&tmux);
    assert!(list[0]["last_typed_secs"].is_u64(), "{list:?}");
    assert!(list[1]["last_typed_secs"].is_null(), "{list:?}");
    let text = tmux.npair_ok(&["status"]);
    assert!(text.contains("LAST TYPED"), "{text}");
    assert!(status_line(&text, "1").contains(" ago "), "{text}");
    assert!(status_line(&text, "2").contains(" - "), "{text}");
    // A few seconds after the last keystroke, it goes.
    host.wait_for("alice typing to go", |t| !t.contains("typing"));

    // Two at once: both, in the order they joined.
    wait_until("alice, bob typing in the host's status line", || {
        alice.type_str("a");
        bob.type_str("b");
        let t = host.text();
        if t.contains("alice, bob typing") {
            Ok(())
        } else {
            Err(t)
        }
    });
    assert!(guests(&tmux)[1]["last_typed_secs"].is_u64());

    host.type_str("\x02d");
    assert!(host.wait_exit().success());
    assert_eq!(
        tmux.run(&["show-options", "-t", "fun", "status-right"]),
        before
    );
    let left = tmux
        .command()
        .args(["show-options", "-t", "fun", "@npair_typing"])
        .output()
        .unwrap();
    assert!(!left.status.success(), "@npair_typing is still set");
}

#[test]
fn the_web_page_shows_who_is_typing() {
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let np = Npair::start_web(&tmux, "fun");
    let mut alice = named(np.port(), &np.rw(), "alice", &[]);
    alice.wait_text("$");
    let mut b = Browser::open(&np.web_url(), 1000, 600);
    b.wait_for("live", "document.getElementById('state').className", |v| {
        v == "live"
    });
    let typing = "(() => { const e = document.getElementById('typing'); \
                  return e.hidden ? '' : e.textContent; })()";
    assert_eq!(b.eval(typing), "");
    wait_until("the page to show alice typing", || {
        alice.type_str("x");
        let shown = b.eval(typing);
        if shown == "alice typing" {
            Ok(())
        } else {
            Err(shown.to_string())
        }
    });
    b.wait_for("nobody typing", typing, |v| v == "");
}

#[test]
fn a_recording_marks_who_typed_but_never_what() {
    const SECRET: &str = "hunter2-never-recorded";
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let cast = tmux.path().join("names.cast");
    let mut np = Npair::start(&tmux, "fun", &["--record", cast.to_str().unwrap()]);
    let mut alice = named(np.port(), &np.rw(), "alice", &[]);
    alice.wait_text("$");
    // As at a password prompt: typed, not echoed.
    alice.type_str("stty -echo; cat > /dev/null\r");
    let command = || {
        tmux.run(&[
            "display-message",
            "-p",
            "-t",
            "fun",
            "#{pane_current_command}",
        ])
    };
    wait_until("cat to read what alice types", || {
        let c = command();
        if c.trim() == "cat" {
            Ok(())
        } else {
            Err(c)
        }
    });
    alice.type_str(&format!("{SECRET}\r\x04"));
    wait_until("cat to end", || {
        let c = command();
        if c.trim() != "cat" {
            Ok(())
        } else {
            Err(c)
        }
    });
    alice.type_str("stty echo\r");
    tmux.npair_ok(&["stop"]);
    assert!(np.wait_exit().success());

    let text = std::fs::read_to_string(&cast).unwrap();
    let events: Vec<serde_json::Value> = text
        .lines()
        .skip(1)
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let markers: Vec<&serde_json::Value> = events.iter().filter(|e| e[1] == "m").collect();
    assert!(
        markers.iter().any(|e| e[2] == "alice typing"),
        "no marker for alice in {markers:?}"
    );
    // One per spell of typing, not per keystroke (she pressed some fifty keys).
    assert!(markers.len() < 5, "{markers:?}");
    assert!(events.iter().all(|e| e[1] != "i"), "input was recorded");
    assert!(
        !text.contains(SECRET),
        "what alice typed is in the recording"
    );
}
