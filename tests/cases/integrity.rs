//! What typists send arrives whole, in order and fairly: a long paste, two guests typing at
//! once, and a guest flooding input while others type.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::util::client::{self, runtime};
use crate::util::*;

/// Starts `cat > FILE` in the pane, with the pane's terminal raw and silent when `raw` (every
/// byte reaches the file at once, and nothing is echoed), and waits until it runs.
fn cat_into(tmux: &Tmux, target: &str, file: &Path, raw: bool) {
    let stty = if raw { "stty raw -echo" } else { "stty -echo" };
    // `RE""ADY` shows only once the shell has run the line, not while it is typed.
    tmux.send(
        target,
        &[
            &format!("{stty}; echo RE\"\"ADY; cat > {}", file.display()),
            "Enter",
        ],
    );
    tmux.wait_pane(target, "cat running", |t| t.contains("READY"));
}

fn wait_file_len(file: &Path, len: usize) -> Vec<u8> {
    wait_until(&format!("{} to hold {len} bytes", file.display()), || {
        let got = std::fs::read(file).unwrap_or_default();
        if got.len() >= len {
            Ok(got)
        } else {
            Err(format!("{} bytes", got.len()))
        }
    })
}

#[test]
fn a_ten_thousand_character_paste_arrives_complete_and_in_order() {
    const CHARS: usize = 10_000;
    const LINE: usize = 100;
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let np = Npair::start(&tmux, "fun", &[]);
    let file = tmux.path().join("paste.txt");
    let mut guest = Term::guest(np.port(), &np.rw(), 80, 24);
    guest.wait_text("$");
    cat_into(&tmux, "fun", &file, false);

    // Lines of letters, digits, accented and wide characters, each line numbered.
    let alphabet: Vec<char> = "abcdefghijklmnopqrstuvwxyz0123456789éüß界面😀-_=+"
        .chars()
        .collect();
    let mut paste = String::new();
    let mut count = 0;
    for line in 0..CHARS / LINE {
        let head = format!("{line:03}:");
        count += head.len();
        paste.push_str(&head);
        for i in 0..LINE - head.len() {
            paste.push(alphabet[(line * 7 + i * 13) % alphabet.len()]);
            count += 1;
        }
        paste.push('\r');
    }
    assert_eq!(count, CHARS);
    guest.type_str(&paste);
    guest.type_str("\x04"); // ^D at the start of a line: cat ends

    let want = paste.replace('\r', "\n");
    let got = wait_file_len(&file, want.len());
    let got = String::from_utf8_lossy(&got);
    if got != want {
        let at = got
            .chars()
            .zip(want.chars())
            .position(|(a, b)| a != b)
            .unwrap_or(got.len().min(want.len()));
        panic!(
            "the paste differs at character {at} (got {} bytes, want {}): got {:?}, want {:?}",
            got.len(),
            want.len(),
            got.chars().skip(at).take(40).collect::<String>(),
            want.chars().skip(at).take(40).collect::<String>()
        );
    }
    tmux.wait_pane("fun", "the prompt after cat", |t| {
        t.trim_end().ends_with('$')
    });
}

#[test]
fn two_guests_typing_at_once_never_split_each_others_characters_or_escape_sequences() {
    const PACKETS: usize = 200;
    const UNITS: usize = 64;
    // Guest A types 4-byte UTF-8 characters; guest B a 3-byte character and an arrow key.
    const A: &str = "😀";
    const B: &str = "界\x1b[A";
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let np = Npair::start(&tmux, "fun", &[]);
    let file = tmux.path().join("typed.bin");
    cat_into(&tmux, "fun", &file, true);

    let rt = runtime(2);
    let (a, b) = rt.block_on(async {
        let a = client::join(np.port(), &np.rw(), None, 80, 24)
            .await
            .unwrap();
        let b = client::join(np.port(), &np.rw(), None, 80, 24)
            .await
            .unwrap();
        (a, b)
    });
    rt.block_on(async {
        let pa = A.repeat(UNITS);
        let pb = B.repeat(UNITS);
        let (a, b) = (&a, &b);
        tokio::join!(
            async {
                for _ in 0..PACKETS {
                    a.send(pa.as_bytes()).await;
                }
            },
            async {
                for _ in 0..PACKETS {
                    b.send(pb.as_bytes()).await;
                }
            }
        );
    });

    let len = PACKETS * UNITS * (A.len() + B.len());
    let got = wait_file_len(&file, len);
    assert_eq!(got.len(), len, "more bytes arrived than were typed");
    // Read the file back as a sequence of whole units; anything else is a split.
    let (mut na, mut nb, mut switches, mut last) = (0, 0, 0, None);
    let mut rest = &got[..];
    while !rest.is_empty() {
        let who = if rest.starts_with(A.as_bytes()) {
            na += 1;
            rest = &rest[A.len()..];
            'a'
        } else if rest.starts_with(B.as_bytes()) {
            nb += 1;
            rest = &rest[B.len()..];
            'b'
        } else {
            let at = got.len() - rest.len();
            panic!(
                "a split at byte {at}: {:?}",
                String::from_utf8_lossy(&rest[..rest.len().min(16)])
            );
        };
        if last.is_some_and(|l| l != who) {
            switches += 1;
        }
        last = Some(who);
    }
    assert_eq!((na, nb), (PACKETS * UNITS, PACKETS * UNITS));
    eprintln!("two typists: {na} + {nb} units, interleaved {switches} times, none split");
}

/// Bytes the flooding guest sends per packet.
const FLOOD_PACKET: usize = 16 * 1024;
/// The flood stops here at the latest, whatever happens.
const FLOOD_MAX: usize = 256 * 1024 * 1024;

#[test]
fn a_flooding_guest_cannot_starve_another_guests_or_the_hosts_keystrokes() {
    // How far behind the flood a keystroke may land: a few of the flooder's chunks queued in
    // npair, plus what the pty and tmux hold. A queue shared by every guest would put the whole
    // queue (megabytes) between them.
    const MAX_BEHIND: usize = 1024 * 1024;
    let tmux = Tmux::new();
    tmux.new_session("fun", 80, 24);
    let mut host = Term::host(&tmux, "fun", 80, 24);
    let info = host.json();
    let port = info["ssh_port"].as_u64().unwrap() as u16;
    let rw = info["rw_token"].as_str().unwrap().to_owned();
    let file = tmux.path().join("flood.bin");
    cat_into(&tmux, "fun", &file, true);

    let rt = runtime(2);
    let (flooder, typist) = rt.block_on(async {
        (
            client::join(port, &rw, None, 80, 24).await.unwrap(),
            client::join(port, &rw, None, 80, 24).await.unwrap(),
        )
    });
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let flood = {
        let (stop, sent) = (Arc::clone(&stop), Arc::clone(&sent));
        rt.spawn(async move {
            let chunk = bytes::Bytes::from(vec![b'a'; FLOOD_PACKET]);
            while !stop.load(Ordering::Relaxed) && sent.load(Ordering::Relaxed) < FLOOD_MAX {
                if flooder.input.data_bytes(chunk.clone()).await.is_err() {
                    break;
                }
                sent.fetch_add(FLOOD_PACKET, Ordering::Relaxed);
            }
            flooder
        })
    };
    // Once the flood is well under way (npair's queue has had time to fill), both type.
    let file_len = || {
        std::fs::metadata(&file)
            .map(|m| m.len() as usize)
            .unwrap_or(0)
    };
    wait_until("the flood to reach the file", || {
        let n = file_len();
        if n >= 4 * 1024 * 1024 {
            Ok(())
        } else {
            Err(format!("{n} bytes"))
        }
    });
    let before = file_len();
    rt.block_on(typist.send(b"GUEST-MARK"));
    host.type_str("HOST-MARK");
    let got = wait_until("both marks to reach the file", || {
        let got = std::fs::read(&file).unwrap_or_default();
        let has = |m: &[u8]| got.windows(m.len()).any(|w| w == m);
        if has(b"GUEST-MARK") && has(b"HOST-MARK") {
            Ok(got)
        } else {
            Err(format!(
                "{} bytes; the flooder sent {}",
                got.len(),
                sent.load(Ordering::Relaxed)
            ))
        }
    });
    stop.store(true, Ordering::Relaxed);
    let flooder = rt.block_on(flood).unwrap();
    let at = |m: &[u8]| got.windows(m.len()).position(|w| w == m).unwrap();
    let (guest_at, host_at) = (at(b"GUEST-MARK"), at(b"HOST-MARK"));
    eprintln!(
        "flood: the file held {before} bytes when the marks were typed; the guest's landed at {guest_at}, the host's at {host_at} ({} and {} bytes later)",
        guest_at - before.min(guest_at),
        host_at - before.min(host_at)
    );
    assert!(
        guest_at.saturating_sub(before) <= MAX_BEHIND,
        "the guest's keystrokes waited behind {} bytes of another guest's flood",
        guest_at - before
    );
    assert!(
        host_at.saturating_sub(before) <= MAX_BEHIND,
        "the host's keystrokes waited behind {} bytes of a guest's flood",
        host_at - before
    );
    drop(flooder);
    drop(typist);
}
