//! The registry as the transports and the control socket use it.

use super::*;
use crate::shutdown;
use crate::tokens::Role;

fn arrival(role: Role, term: Option<Size>) -> Arrival {
    Arrival {
        kind: Kind::Ssh,
        login: Login {
            role,
            generation: 0,
        },
        addr: "127.0.0.1:1".parse().unwrap(),
        client: "SSH-2.0-test\u{1b}[31m".to_owned(),
        term,
        kick: shutdown::channel().0,
        name: None,
    }
}

fn registry(rules: Rules) -> (Arc<Registry>, Arc<SizePolicy>) {
    let (r, sizes, _notices) = registry_told(rules);
    (r, sizes)
}

/// A registry, with what it tells the host.
fn registry_told(rules: Rules) -> (Arc<Registry>, Arc<SizePolicy>, mpsc::Receiver<String>) {
    let sizes = SizePolicy::new(Size::new(80, 24));
    let (tx, rx) = mpsc::channel(64);
    (Registry::new(Arc::clone(&sizes), rules, tx), sizes, rx)
}

fn told(notices: &mut mpsc::Receiver<String>) -> Vec<String> {
    std::iter::from_fn(|| notices.try_recv().ok()).collect()
}

#[test]
fn the_size_vote_follows_the_role_and_leaves_with_the_guest() {
    let (r, sizes) = registry(Rules::default());
    let (g, waiting) = r
        .register(arrival(Role::ReadOnly, Some(Size::new(60, 20))))
        .unwrap();
    assert!(waiting.is_none());
    assert_eq!(sizes.current(), Size::new(80, 24));
    assert!(!g.can_type());
    assert!(!r.list()[0].session);
    g.start_session(Some(Size::new(60, 20)));
    assert!(r.list()[0].session);
    r.set_role(&Who::Id(g.id()), Role::ReadWrite).unwrap();
    assert_eq!(sizes.current(), Size::new(60, 20));
    assert!(g.can_type());
    g.set_term(Some(Size::new(70, 22)));
    assert_eq!(sizes.current(), Size::new(70, 22));
    // A size of 0 (no size) withdraws the vote; a tiny one votes for the floor.
    g.set_term(None);
    assert_eq!(sizes.current(), Size::new(80, 24));
    g.set_term(Some(Size::new(1, 1)));
    assert_eq!(sizes.current(), crate::size::GUEST_MIN);
    g.set_term(Some(Size::new(70, 22)));
    r.set_role(&Who::Id(g.id()), Role::ReadOnly).unwrap();
    assert_eq!(sizes.current(), Size::new(80, 24));
    r.set_role(&Who::Id(g.id()), Role::ReadWrite).unwrap();
    let list = r.list();
    assert_eq!(list[0].client, "SSH-2.0-test[31m");
    drop(g);
    assert_eq!(sizes.current(), Size::new(80, 24));
    assert!(r.list().is_empty());
}

#[test]
fn a_waiting_guest_neither_types_nor_votes_until_let_in() {
    let (r, sizes) = registry(Rules {
        approve: true,
        max_guests: Some(2),
    });
    let (g, waiting) = r
        .register(arrival(Role::ReadWrite, Some(Size::new(60, 20))))
        .unwrap();
    let mut waiting = waiting.unwrap();
    g.start_session(Some(Size::new(60, 20)));
    assert!(!g.can_type());
    assert_eq!(sizes.current(), Size::new(80, 24));
    assert!(waiting.try_recv().is_err());
    r.admit(&Who::Id(g.id())).unwrap();
    assert!(waiting.try_recv().is_ok());
    assert!(g.can_type());
    assert_eq!(sizes.current(), Size::new(60, 20));
    assert!(r
        .admit(&Who::Id(g.id()))
        .unwrap_err()
        .contains("not waiting"));
    assert!(r.deny(&Who::Id(g.id())).unwrap_err().contains("already in"));

    let (_h, _) = r.register(arrival(Role::ReadOnly, None)).unwrap();
    let full = r.register(arrival(Role::ReadOnly, None));
    assert!(matches!(full, Err(Refusal::Full(2))));
}

#[test]
fn a_guest_is_announced_by_the_name_it_gave_once_its_session_starts() {
    let (r, _, mut notices) = registry_told(Rules::default());
    let (alice, _) = r.register(arrival(Role::ReadWrite, None)).unwrap();
    // Its name may still come (SetEnv arrives after the login): nothing said yet.
    assert!(told(&mut notices).is_empty());
    assert_eq!(r.list()[0].name, "guest 1");
    assert!(alice.give_name("alice".into()));
    alice.start_session(Some(Size::new(80, 24)));
    let said = told(&mut notices);
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(
        said[0].starts_with("alice (guest 1, rw) joined from 127.0.0.1:1"),
        "{said:?}"
    );
    // Settled: a name given after the session started is not taken.
    assert!(!alice.give_name("mallory".into()));
    assert_eq!(r.list()[0].name, "alice");

    // A key's comment is kept over a name the guest gives.
    let mut keyed = arrival(Role::ReadOnly, None);
    keyed.name = Some("bob@laptop".into());
    let (bob, _) = r.register(keyed).unwrap();
    assert!(!bob.give_name("robert".into()));
    bob.start_session(None);
    assert!(told(&mut notices)[0].starts_with("bob@laptop (guest 2, ro) joined"));

    // One that never opens a session is told of as it leaves.
    let (_, _) = r.register(arrival(Role::ReadOnly, None)).unwrap();
    let said = told(&mut notices);
    assert_eq!(
        said,
        ["guest 3 (ro) from 127.0.0.1:1 left without opening a terminal session"]
    );
    drop(alice);
    assert_eq!(told(&mut notices), ["alice (guest 1, rw) left"]);
}

#[test]
fn the_host_finds_a_guest_by_id_or_name_and_is_told_when_a_name_is_ambiguous() {
    let (r, _, mut notices) = registry_told(Rules::default());
    let named = |name: Option<&str>, role| {
        let (g, _) = r.register(arrival(role, Some(Size::new(80, 24)))).unwrap();
        if let Some(n) = name {
            g.give_name(n.into());
        }
        g.start_session(Some(Size::new(80, 24)));
        g
    };
    let _alice = named(Some("alice"), Role::ReadOnly);
    let _anon = named(None, Role::ReadOnly);
    let _bob1 = named(Some("bob"), Role::ReadOnly);
    let _bob2 = named(Some("bob"), Role::ReadWrite);
    told(&mut notices);

    let alice = r.set_role(&Who::parse("alice"), Role::ReadWrite).unwrap();
    assert_eq!(alice.to_string(), "alice (guest 1)");
    assert_eq!(
        told(&mut notices),
        ["alice (guest 1) promoted to read-write"]
    );
    assert_eq!(
        r.set_role(&Who::parse("guest 2"), Role::ReadWrite)
            .unwrap()
            .to_string(),
        "guest 2"
    );
    let err = r.kick(&Who::parse("bob"), "bye").unwrap_err();
    assert!(err.contains("2 guests are named 'bob'"), "{err}");
    assert!(
        err.contains("id 3, ro, from 127.0.0.1:1") && err.contains("id 4, rw"),
        "{err}"
    );
    let err = r.kick(&Who::parse("carol"), "bye").unwrap_err();
    assert!(err.starts_with("no guest is named 'carol'"), "{err}");
    assert!(
        err.contains("alice (id 1") && err.contains("bob (id 4"),
        "{err}"
    );
    // Nobody was kicked by the refusals; the id settles it.
    assert_eq!(r.list().len(), 4);
    assert_eq!(
        r.kick(&Who::Id(4), "bye").unwrap().to_string(),
        "bob (guest 4)"
    );
    let err = r.admit(&Who::Id(9)).unwrap_err();
    assert!(err.contains("no guest 9 is connected"), "{err}");
}

#[test]
fn a_keystroke_stamps_its_guest_for_the_status() {
    let (r, _) = registry(Rules::default());
    let (g, _) = r
        .register(arrival(Role::ReadWrite, Some(Size::new(80, 24))))
        .unwrap();
    let (h, _) = r
        .register(arrival(Role::ReadWrite, Some(Size::new(80, 24))))
        .unwrap();
    assert_eq!(r.list()[0].last_typed_secs, None);
    g.typed();
    let list = r.list();
    assert_eq!(list[0].last_typed_secs, Some(0));
    assert_eq!(list[1].last_typed_secs, None);
    drop(h);
}

#[tokio::test]
async fn the_follower_shows_who_starts_typing_and_forgets_who_leaves() {
    let (r, _) = registry(Rules::default());
    let (shutdown_tx, shutdown) = shutdown::channel();
    let follower = tokio::spawn(Arc::clone(&r).follow_typing(shutdown));
    let mut typing = r.watch_typing();
    let (g, _) = r
        .register(arrival(Role::ReadWrite, Some(Size::new(80, 24))))
        .unwrap();
    g.give_name("alice".into());
    g.start_session(Some(Size::new(80, 24)));
    g.typed();
    let line = |t: &watch::Receiver<Typing>| t.borrow().line();
    tokio::time::timeout(std::time::Duration::from_secs(5), typing.changed())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(line(&typing).as_deref(), Some("alice typing"));
    drop(g);
    tokio::time::timeout(std::time::Duration::from_secs(5), typing.changed())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(line(&typing), None);
    shutdown_tx.fire("done");
    follower.await.unwrap();
}
