//! The command line describes itself: shell completions and the man page come from it.

use crate::util::*;

#[test]
fn completions_and_the_man_page_come_from_the_cli() {
    let tmux = Tmux::new();
    for shell in ["bash", "zsh", "fish"] {
        let out = tmux.npair_ok(&["completions", shell]);
        for word in [
            "share",
            "status",
            "kick",
            "rotate",
            "approve",
            "size-policy",
            "max-guests",
        ] {
            assert!(out.contains(word), "{shell} completions lack {word}");
        }
    }
    let man = tmux.npair_ok(&["man"]);
    assert!(man.starts_with(".ie") || man.contains(".TH npair"), "{man}");
    for word in [
        "NPAIR SHARE",
        "NPAIR STATUS",
        "NPAIR KICK",
        "NPAIR ROTATE",
        "NPAIR PROMOTE",
        "NPAIR SIZE-POLICY",
        "size\\-policy\\fR [SESSION] smallest|host|COLSxROWS",
        "max\\-guests",
        "authorized\\-keys",
    ] {
        assert!(man.contains(word), "the man page lacks {word}");
    }

    let out = tmux.npair(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
}
