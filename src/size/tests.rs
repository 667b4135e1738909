//! The size policy's tests: sizes and policies as written, each policy's size, switching.

use super::*;
use proptest::prelude::*;

#[test]
fn parses_cols_by_rows_and_names_bad_values() {
    assert_eq!("120x40".parse::<Size>(), Ok(Size::new(120, 40)));
    for bad in [
        "", "80", "80x", "x24", "80x24x1", "-80x24", "80 x 24", "9x24", "80x2", "501x24",
    ] {
        let err = bad.parse::<Size>().unwrap_err().to_string();
        assert!(err.contains(&format!("'{bad}'")), "{err}");
        assert!(err.contains("COLSxROWS"), "{err}");
    }
    assert!("99999999x24"
        .parse::<Size>()
        .unwrap_err()
        .to_string()
        .contains("too large"));
}

#[test]
fn hostile_sizes_are_clamped() {
    assert_eq!(Size::clamped(0, 0), Size::new(MIN_COLS, MIN_ROWS));
    assert_eq!(Size::clamped(1, 1), Size::new(MIN_COLS, MIN_ROWS));
    assert_eq!(Size::clamped(10_000, 10_000), Size::new(MAX_COLS, MAX_ROWS));
    assert_eq!(
        Size::clamped(u32::MAX, u32::MAX),
        Size::new(MAX_COLS, MAX_ROWS)
    );
}

#[test]
fn a_zero_size_is_no_size_and_a_tiny_one_votes_for_the_floor() {
    assert_eq!(Size::reported(0, 0), None);
    assert_eq!(Size::reported(0, 24), None);
    assert_eq!(Size::reported(80, 0), None);
    assert_eq!(Size::reported(1, 1), Some(Size::new(1, 1)));
    assert_eq!(Size::reported(u32::MAX, 3), Some(Size::new(u16::MAX, 3)));
    assert_eq!(Size::new(1, 1).guest_vote(), GUEST_MIN);
    assert_eq!(Size::new(2, 200).guest_vote(), Size::new(20, 200));
    assert_eq!(
        Size::new(u16::MAX, u16::MAX).guest_vote(),
        Size::new(MAX_COLS, MAX_ROWS)
    );
}

#[test]
fn votes_shrink_the_session_and_leaving_restores_it() {
    let p = SizePolicy::new(Size::new(80, 24));
    let a = p.vote(Size::new(60, 30));
    assert_eq!(p.current(), Size::new(60, 24));
    let b = p.vote(Size::new(100, 20));
    assert_eq!(p.current(), Size::new(60, 20));
    a.set(Size::new(70, 30));
    assert_eq!(p.current(), Size::new(70, 20));
    drop(b);
    assert_eq!(p.current(), Size::new(70, 24));
    drop(a);
    assert_eq!(p.current(), Size::new(80, 24));
    p.set_base(Size::new(50, 10));
    assert_eq!(p.current(), Size::new(50, 10));
}

#[test]
fn policies_are_named_or_sized_and_bad_ones_name_the_value_and_the_choices() {
    assert_eq!("smallest".parse(), Ok(Policy::Smallest));
    assert_eq!("Host".parse(), Ok(Policy::Host));
    assert_eq!("100x30".parse(), Ok(Policy::Fixed(Size::new(100, 30))));
    for p in [
        Policy::Smallest,
        Policy::Host,
        Policy::Fixed(Size::new(100, 30)),
    ] {
        assert_eq!(p.to_string().parse(), Ok(p));
    }
    for bad in ["huge", "", "5x5", "100x", "501x30", "biggest"] {
        let err = bad.parse::<Policy>().unwrap_err();
        assert!(err.contains(&format!("'{bad}'")), "{err}");
        assert!(
            err.contains("smallest, host, or a fixed size COLSxROWS"),
            "{err}"
        );
    }
    assert!("5x5"
        .parse::<Policy>()
        .unwrap_err()
        .contains("out of range"));
    assert!(!"huge"
        .parse::<Policy>()
        .unwrap_err()
        .contains("out of range"));
    // In JSON, as on the command line; a bad one is refused there too.
    let json = serde_json::to_string(&Policy::Fixed(Size::new(100, 30))).unwrap();
    assert_eq!(json, r#""100x30""#);
    assert!(serde_json::from_str::<Policy>(r#""huge""#).is_err());
    assert_eq!(
        serde_json::from_str::<Policy>(r#""host""#).unwrap(),
        Policy::Host
    );
}

#[test]
fn each_policy_gives_its_own_size_from_the_same_votes() {
    let p = SizePolicy::new(Size::new(120, 35));
    let laptop = p.vote(Size::new(70, 20));
    let _big = p.vote(Size::new(130, 40));
    assert_eq!(p.current(), Size::new(70, 20));
    p.set_policy(Policy::Host).unwrap();
    assert_eq!(p.current(), Size::new(120, 35));
    // Under `host`, a guest's terminal changes nothing; the host's does.
    laptop.set(Size::new(60, 18));
    assert_eq!(p.current(), Size::new(120, 35));
    p.set_base(Size::new(110, 30));
    assert_eq!(p.current(), Size::new(110, 30));
    p.set_policy(Policy::Fixed(Size::new(100, 30))).unwrap();
    assert_eq!(p.current(), Size::new(100, 30));
    // Headless, nobody's terminal moves a fixed size, up or down.
    p.set_base(Size::new(50, 10));
    laptop.set(Size::new(20, 5));
    drop(laptop);
    assert_eq!(p.current(), Size::new(100, 30));
    let s = p.sizing();
    assert_eq!(s.size_policy, Policy::Fixed(Size::new(100, 30)));
    assert_eq!(
        (s.size_votes, s.host_size, s.headless),
        (1, Size::new(50, 10), true)
    );
}

#[test]
fn switching_policy_takes_effect_at_once_with_the_votes_already_in() {
    let p = SizePolicy::new(Size::new(80, 24));
    p.start(Policy::Host, Size::new(120, 35), true);
    let mut rx = p.watch();
    let _laptop = p.vote(Size::new(70, 20));
    assert_eq!(p.current(), Size::new(120, 35));
    assert!(!rx.has_changed().unwrap());

    let (was, now) = p.set_policy(Policy::Smallest).unwrap();
    assert_eq!(
        (was.size_policy, was.size),
        (Policy::Host, Size::new(120, 35))
    );
    assert_eq!(
        (now.size_policy, now.size),
        (Policy::Smallest, Size::new(70, 20))
    );
    assert_eq!(now.size_votes, 1);
    assert_eq!(*rx.borrow_and_update(), Size::new(70, 20));

    let (_, now) = p.set_policy(Policy::Host).unwrap();
    assert_eq!(now.size, Size::new(120, 35));
    assert_eq!(*rx.borrow_and_update(), Size::new(120, 35));
    // The same policy again changes nothing, and says so.
    let (was, now) = p.set_policy(Policy::Host).unwrap();
    assert_eq!(was, now);
    assert!(!rx.has_changed().unwrap());
}

#[test]
fn a_fixed_size_never_outgrows_the_attached_hosts_terminal() {
    let (host, fixed) = (Size::new(120, 35), Size::new(100, 30));
    assert_eq!(
        SizePolicy::starting_size(Policy::Fixed(fixed), host, true),
        fixed
    );
    assert_eq!(SizePolicy::starting_size(Policy::Host, host, true), host);
    let p = SizePolicy::new(fixed);
    p.start(Policy::Fixed(fixed), host, true);
    assert_eq!(p.current(), fixed);

    let err = p.set_policy(Policy::Fixed(Size::new(130, 40))).unwrap_err();
    assert!(err.contains("130x40") && err.contains("120x35"), "{err}");
    assert_eq!(p.sizing().size_policy, Policy::Fixed(fixed));
    let err = Policy::Fixed(Size::new(121, 10))
        .check(Some(host))
        .unwrap_err();
    assert!(err.contains("121x10"), "{err}");
    assert_eq!(Policy::Fixed(host).check(Some(host)), Ok(()));
    assert_eq!(Policy::Fixed(Size::new(500, 300)).check(None), Ok(()));

    // The host shrinks its terminal after choosing: the session follows it down, and
    // back up to the fixed size, never past it.
    p.set_base(Size::new(90, 40));
    assert_eq!(p.current(), Size::new(90, 30));
    p.set_base(Size::new(200, 60));
    assert_eq!(p.current(), fixed);
}

#[test]
fn the_limits_hold_under_every_policy() {
    // A fixed size keeps `--size`'s limits...
    for (bad, why) in [
        ("9x24", "out of range"),
        ("80x2", "out of range"),
        ("0x0", "range"),
    ] {
        let err = bad.parse::<Policy>().unwrap_err();
        assert!(
            err.contains(why) && err.contains("columns 10..=500"),
            "{err}"
        );
    }
    assert_eq!(
        "10x3".parse(),
        Ok(Policy::Fixed(Size::new(MIN_COLS, MIN_ROWS)))
    );
    assert_eq!(
        "500x300".parse(),
        Ok(Policy::Fixed(Size::new(MAX_COLS, MAX_ROWS)))
    );
    // ...and a tiny read-write terminal still counts as the floor under `smallest`, and
    // not at all under `host`.
    let p = SizePolicy::new(Size::new(80, 24));
    let _tiny = p.vote(Size::new(1, 1).guest_vote());
    assert_eq!(p.current(), GUEST_MIN);
    p.set_policy(Policy::Host).unwrap();
    assert_eq!(p.current(), Size::new(80, 24));
    p.set_policy(Policy::Smallest).unwrap();
    assert_eq!(p.current(), GUEST_MIN);
}

proptest! {
    /// Attached, no policy makes the session larger than the host's terminal (a fixed size
    /// is refused, or cut to it), and every size stays within the session's limits.
    #[test]
    fn never_larger_than_the_attached_hosts_terminal(
        base in (0u32..1000, 0u32..1000),
        fixed in (10u16..=500, 3u16..=300),
        pick in 0u8..3,
        guests in prop::collection::vec((0u32..1000, 0u32..1000), 0..4),
        later in (0u32..1000, 0u32..1000),
    ) {
        let base = Size::clamped(base.0, base.1);
        let policy = match pick {
            0 => Policy::Smallest,
            1 => Policy::Host,
            _ => Policy::Fixed(Size::new(fixed.0, fixed.1)),
        };
        let p = SizePolicy::new(base);
        p.start(Policy::Smallest, base, true);
        let _votes: Vec<Vote> = guests
            .iter()
            .map(|&(c, r)| p.vote(Size::clamped(c, r).guest_vote()))
            .collect();
        let chosen = p.set_policy(policy).is_ok();
        prop_assert_eq!(chosen, policy.check(Some(base)).is_ok());
        let later = Size::clamped(later.0, later.1);
        p.set_base(later);
        let cur = p.current();
        prop_assert!(cur.fits_in(later));
        prop_assert!(Size::new(MIN_COLS, MIN_ROWS).fits_in(cur));
    }

    /// The session is never larger than the base or any read-write guest, and is exactly
    /// the smallest of them in each dimension.
    #[test]
    fn never_larger_than_any_voter(base in (10u16..500, 3u16..300),
                                   guests in prop::collection::vec((0u32..1000, 0u32..1000), 0..8)) {
        let base = Size::new(base.0, base.1);
        let p = SizePolicy::new(base);
        let sizes: Vec<Size> = guests.iter().map(|&(c, r)| Size::clamped(c, r)).collect();
        let _votes: Vec<Vote> = sizes.iter().map(|&s| p.vote(s)).collect();
        let cur = p.current();
        prop_assert!(cur.fits_in(base));
        for s in &sizes { prop_assert!(cur.fits_in(*s)); }
        prop_assert_eq!(cur.cols, sizes.iter().map(|s| s.cols).chain([base.cols]).min().unwrap());
        prop_assert_eq!(cur.rows, sizes.iter().map(|s| s.rows).chain([base.rows]).min().unwrap());
    }
}
