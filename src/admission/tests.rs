use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// SSH's rules, small: 4 places, 2 per address, 1 s to stall, 10 s at most.
fn ssh(max_queued: usize, max_queued_per_addr: usize) -> Arc<Admission> {
    Admission::with(Caps {
        max: 4,
        max_per_addr: 2,
        max_queued,
        max_queued_per_addr,
        idle_after: Duration::from_secs(1),
        hold_max: Duration::from_secs(10),
    })
}

/// Whether a ticket's place has been given (without waiting).
fn has_place(t: &mut Ticket) -> bool {
    match t.place.as_mut() {
        None => true,
        Some(rx) => {
            rx.try_recv().is_ok() && {
                t.place = None;
                true
            }
        }
    }
}

#[test]
fn a_flooding_address_pushes_out_only_its_own_oldest() {
    let a = Admission::new(10, 3);
    let (_guest, mut guest_out) = a.admit(ip("10.0.0.9"));
    let mut flood: Vec<_> = (0..50).map(|_| a.admit(ip("10.0.0.1"))).collect();
    assert_eq!(a.counts(), (4, 0));
    assert!(guest_out.try_recv().is_err(), "the guest was pushed out");
    // The flood's oldest were pushed out; its newest three still wait.
    assert_eq!(flood[0].1.try_recv(), Ok(()));
    assert!(flood[49].1.try_recv().is_err());
}

#[test]
fn past_the_total_the_oldest_of_all_is_pushed_out_and_tickets_free_their_place() {
    let a = Admission::new(4, 4);
    let mut all: Vec<_> = (1..=4)
        .map(|i| a.admit(ip(&format!("10.0.0.{i}"))))
        .collect();
    let newest = a.admit(ip("10.0.0.5"));
    assert_eq!(all[0].1.try_recv(), Ok(()));
    assert!(all[1].1.try_recv().is_err());
    assert_eq!(a.counts(), (4, 0));
    drop(newest);
    all.clear();
    assert_eq!(a.counts(), (0, 0));
}

#[test]
fn a_burst_past_the_caps_queues_and_everyone_gets_a_place_as_the_ones_ahead_finish() {
    let a = ssh(100, 100);
    let mut burst: Vec<_> = (0..30)
        .map(|i| a.admit(ip(&format!("10.0.0.{}", i % 5))))
        .collect();
    // Nobody is pushed out: they all keep talking.
    assert_eq!(a.counts(), (4, 26));
    let mut done = 0;
    // Each authentication frees a place for the next; bounded by the burst's size.
    for _ in 0..burst.len() * 2 {
        let Some(i) = burst.iter_mut().position(|(t, _)| has_place(t)) else {
            break;
        };
        let (t, mut out) = burst.remove(i);
        assert!(
            out.try_recv().is_err(),
            "a progressing connection was pushed out"
        );
        drop(t);
        done += 1;
    }
    assert_eq!(done, 30);
    assert_eq!(a.counts(), (0, 0));
}

#[test]
fn a_stalled_connection_gives_its_place_to_a_newcomer_but_a_progressing_one_does_not() {
    let a = ssh(100, 100);
    let (busy, mut busy_out) = a.admit(ip("10.0.0.1"));
    let (_idle, mut idle_out) = a.admit(ip("10.0.0.1"));
    let (mut third, _) = a.admit(ip("10.0.0.1"));
    assert!(!has_place(&mut third), "past its address's cap, it queues");
    let later = Instant::now() + Duration::from_millis(1500);
    // `busy` moved a byte just before `later`: stamp as if then.
    busy.activity.last_ms.store(
        (later - a.epoch).as_millis() as u64,
        std::sync::atomic::Ordering::Relaxed,
    );
    a.look_at(later);
    assert!(has_place(&mut third));
    assert_eq!(idle_out.try_recv(), Ok(()), "the stalled one goes");
    assert!(busy_out.try_recv().is_err(), "the progressing one stays");
}

#[test]
fn a_connection_that_trickles_bytes_still_gives_up_its_place_after_the_longest_hold() {
    let a = ssh(100, 100);
    let (mut slow, mut slow_out) = a.admit(ip("10.0.0.1"));
    let (mut other, _) = a.admit(ip("10.0.0.1"));
    let (mut newcomer, _) = a.admit(ip("10.0.0.1"));
    let later = Instant::now() + Duration::from_secs(11);
    // Both moved a byte just now; the older one has held its place the longest.
    for t in [&mut slow, &mut other] {
        t.activity.last_ms.store(
            (later - a.epoch).as_millis() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
    }
    a.look_at(later);
    assert!(has_place(&mut newcomer));
    assert_eq!(slow_out.try_recv(), Ok(()));
    assert!(has_place(&mut slow), "it had its place until then");
}

#[test]
fn a_queued_guest_of_a_quiet_address_goes_before_a_flood_queued_earlier() {
    let a = ssh(100, 100);
    let mut flood: Vec<_> = (0..10)
        .flat_map(|_| [a.admit(ip("10.0.0.1")), a.admit(ip("10.0.0.2"))])
        .collect();
    let (mut guest, mut guest_out) = a.admit(ip("10.0.0.9"));
    assert_eq!(a.counts(), (4, 17));
    // The flood stalls; the next place goes to the guest, whose address holds none.
    a.look_at(Instant::now() + Duration::from_secs(2));
    assert!(has_place(&mut guest));
    assert!(guest_out.try_recv().is_err());
    // And the flood only ever gave up its own places.
    let pushed = flood.iter_mut().filter_map(|f| f.1.try_recv().ok()).count();
    assert!(pushed >= 1);
}

#[test]
fn the_queue_is_bounded_per_address_and_in_all() {
    let a = ssh(6, 3);
    let mut flood: Vec<_> = (0..10).map(|_| a.admit(ip("10.0.0.1"))).collect();
    // Two places, three queued: the oldest queued ones were closed.
    assert_eq!(a.counts(), (2, 3));
    assert_eq!(flood[2].1.try_recv(), Ok(()));
    assert!(flood[9].1.try_recv().is_err());
    let others: Vec<_> = (0..6)
        .map(|i| a.admit(ip(&format!("10.0.1.{}", i % 3))))
        .collect();
    // The total queue holds six: the address with the most queued gave way.
    let (placed, queued) = a.counts();
    assert_eq!((placed, queued), (4, 6));
    assert!(flood[7].1.try_recv().is_ok());
    drop(others);
}

#[tokio::test]
async fn a_queued_connection_gets_its_place_when_a_holder_authenticates() {
    let a = ssh(100, 100);
    let _held: Vec<_> = (0..4)
        .map(|i| a.admit(ip(&format!("10.0.0.{i}"))))
        .collect();
    let (mut t, _) = a.admit(ip("10.0.0.9"));
    let placed = t.placed();
    // The holders are not stalled yet: the place is given by their release below.
    let wait = tokio::spawn(placed);
    tokio::task::yield_now().await;
    drop(_held);
    assert!(tokio::time::timeout(Duration::from_secs(1), wait)
        .await
        .unwrap()
        .unwrap());
}
