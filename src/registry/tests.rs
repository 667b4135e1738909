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
    }
}

fn registry(rules: Rules) -> (Arc<Registry>, Arc<SizePolicy>) {
    let sizes = SizePolicy::new(Size::new(80, 24));
    let (tx, _rx) = mpsc::channel(64);
    (Registry::new(Arc::clone(&sizes), rules, tx), sizes)
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
    r.set_role(g.id(), Role::ReadWrite).unwrap();
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
    r.set_role(g.id(), Role::ReadOnly).unwrap();
    assert_eq!(sizes.current(), Size::new(80, 24));
    r.set_role(g.id(), Role::ReadWrite).unwrap();
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
    r.admit(g.id()).unwrap();
    assert!(waiting.try_recv().is_ok());
    assert!(g.can_type());
    assert_eq!(sizes.current(), Size::new(60, 20));
    assert!(r.admit(g.id()).unwrap_err().contains("not waiting"));
    assert!(r.deny(g.id()).unwrap_err().contains("already in"));

    let (_h, _) = r.register(arrival(Role::ReadOnly, None)).unwrap();
    let full = r.register(arrival(Role::ReadOnly, None));
    assert!(matches!(full, Err(Refusal::Full(2))));
}
