//! The fair queue with fake source mixes: service order, shares, bounds, and the async
//! handles.

use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn v4(n: u32) -> IpAddr {
    IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + n))
}

/// Pops everything; the items in service order.
fn drain<T>(q: &mut FairQueue<T>) -> Vec<T> {
    std::iter::from_fn(|| q.pop()).collect()
}

#[test]
fn a_quiet_source_is_served_next_after_a_flood_of_ten_thousand() {
    // Big enough to hold the whole flood: only the order is under test.
    let mut q = FairQueue::new(20_000, 1 << 30);
    for n in 0..10_000u32 {
        q.push(ip("127.0.0.2"), 500, ("flood", n)).unwrap();
    }
    q.push(ip("127.0.0.5"), 300, ("probe", 0)).unwrap();
    assert_eq!((q.len(), q.sources()), (10_001, 2));
    let first: Vec<_> = (0..2).map(|_| q.pop().unwrap()).collect();
    assert_eq!(first, [("flood", 0), ("probe", 0)]);
    // The flood then goes on in its own order.
    let rest = drain(&mut q);
    assert_eq!(rest.len(), 9_999);
    assert!(rest
        .iter()
        .enumerate()
        .all(|(i, m)| *m == ("flood", i as u32 + 1)));
    assert_eq!((q.len(), q.sources()), (0, 0));
}

#[test]
fn a_probe_arriving_mid_flood_waits_for_one_message_per_busy_source_at_most() {
    let mut q = FairQueue::new(50_000, 1 << 30);
    // Three floods, interleaved unevenly, and the driver taking some as they come.
    for n in 0..9_000u32 {
        let src = ["127.0.0.2", "127.0.0.3", "127.0.0.2", "127.0.0.4"][n as usize % 4];
        q.push(ip(src), 500, src).unwrap();
        if n % 3 == 0 {
            q.pop();
        }
    }
    q.push(ip("127.0.0.5"), 300, "probe").unwrap();
    let before: Vec<_> = std::iter::from_fn(|| q.pop())
        .take_while(|m| *m != "probe")
        .collect();
    assert!(before.len() <= 3, "{before:?}");
}

#[test]
fn sources_with_backlogs_take_turns_and_each_keeps_its_order() {
    let mut q = FairQueue::new(100, 1 << 20);
    for n in 0..5 {
        q.push(ip("10.0.0.1"), 10, format!("a{n}")).unwrap();
    }
    for n in 0..2 {
        q.push(ip("10.0.0.2"), 10, format!("b{n}")).unwrap();
    }
    q.push(ip("10.0.0.3"), 10, "c0".to_string()).unwrap();
    let order = drain(&mut q);
    assert_eq!(order, ["a0", "b0", "c0", "a1", "b1", "a2", "a3", "a4"]);
    // A source that comes back after emptying joins the end of the turns.
    q.push(ip("10.0.0.1"), 10, "a5".to_string()).unwrap();
    q.push(ip("10.0.0.1"), 10, "a6".to_string()).unwrap();
    q.push(ip("10.0.0.2"), 10, "b2".to_string()).unwrap();
    assert_eq!(drain(&mut q), ["a5", "b2", "a6"]);
}

#[test]
fn a_flooding_source_is_held_to_its_share_once_the_queue_is_half_full() {
    let mut q = FairQueue::new(80, 1 << 20);
    // Not crowded: the queue's own bounds alone apply; the flood may fill half (and
    // the one message that takes it past half).
    for n in 0..41 {
        q.push(ip("127.0.0.2"), 500, n).unwrap();
    }
    // Past half full, the flood holds more than its share (10 of 80): refused.
    q.push(ip("127.0.0.2"), 500, 41).unwrap_err();
    assert_eq!(q.check(ip("127.0.0.2"), 500), Err(Refusal::Share));
    // Others still get in, up to their own share.
    for n in 0..10 {
        q.push(ip("127.0.0.3"), 600, 100 + n).unwrap();
    }
    assert_eq!(q.check(ip("127.0.0.3"), 600), Err(Refusal::Share));
    assert_eq!(q.check(ip("127.0.0.4"), 600), Ok(()));
    // As the driver takes messages, the flood may queue again once under its share.
    while q.len() > 20 {
        q.pop();
    }
    assert_eq!(q.check(ip("127.0.0.2"), 500), Ok(()));
}

#[test]
fn the_whole_queue_refuses_when_full_of_many_sources() {
    let mut q = FairQueue::new(16, 1 << 20);
    for n in 0..16 {
        q.push(v4(n), 10, n).unwrap();
    }
    assert_eq!(q.push(v4(99), 10, 99).unwrap_err(), (Refusal::Full, 99));
    q.pop();
    q.push(v4(99), 10, 99).unwrap();
}

#[test]
fn the_byte_shares_bound_large_datagrams() {
    let mut q = FairQueue::new(8192, 8 * 64_000);
    // Over half the bytes: crowded.
    for n in 0..5 {
        q.push(v4(n), 60_000, n).unwrap();
    }
    // A source's first message is let in whatever its size; a second past its 64 kB
    // share is not.
    q.push(ip("10.9.9.9"), 60_000, 100).unwrap();
    assert_eq!(q.check(ip("10.9.9.9"), 60_000), Err(Refusal::Share));
    // The global byte bound.
    q.push(v4(6), 60_000, 6).unwrap();
    q.push(v4(7), 60_000, 7).unwrap();
    assert_eq!(q.check(v4(8), 60_000), Err(Refusal::Full));
    // An empty queue takes any one message (a stream never waits forever).
    let mut small = FairQueue::new(4, 100);
    small.push(v4(1), 1_000, 1).unwrap();
    assert_eq!(small.check(v4(2), 1), Err(Refusal::Full));
}

#[test]
fn an_ipv6_slash_64_is_one_source() {
    let mut q = FairQueue::new(16, 1 << 20);
    for n in 0..8 {
        q.push(v4(n), 10, "filler").unwrap();
    }
    q.push(ip("2001:db8::1"), 10, "a").unwrap();
    q.push(ip("2001:db8::ffff:2"), 10, "b").unwrap();
    assert_eq!(
        q.check(ip("2001:db8::3"), 10),
        Err(Refusal::Share),
        "two of 16 is the share"
    );
    assert_eq!(q.check(ip("2001:db8:0:1::1"), 10), Ok(()), "another /64");
    assert_eq!(q.sources(), 9);
    assert_eq!(source_key(ip("::ffff:10.1.2.3")), ip("10.1.2.3"));
}

#[test]
fn the_arenas_stop_growing_once_warm_and_sources_stay_bounded() {
    let mut q = FairQueue::new(8192, 1 << 24);
    // Many spoofed sources: never more tracked than messages queued.
    let mut refused = 0;
    for n in 0..20_000 {
        if q.push(v4(n), 10, n).is_err() {
            refused += 1;
        }
    }
    assert_eq!(q.len(), 8192);
    assert_eq!(refused, 20_000 - 8192);
    assert!(q.sources() <= 8192);
    drain(&mut q);
    let (slots, lanes) = (q.slots.capacity(), q.lanes.capacity());
    let turns = q.turns.capacity();
    // A warm queue: floods and quiet sources come and go; nothing grows.
    for round in 0..50u32 {
        for n in 0..8_000u32 {
            let src = if n % 2 == 0 {
                v4(0)
            } else {
                v4(round * 8_000 + n)
            };
            let _ = q.push(src, 100, n);
        }
        drain(&mut q);
    }
    assert_eq!(q.slots.capacity(), slots);
    assert_eq!(q.lanes.capacity(), lanes);
    assert_eq!(q.turns.capacity(), turns);
    // (The source map is a hashbrown table: it never shrinks on removal and rehashes in
    // place when removed entries pile up, so it does not allocate once grown either; its
    // `capacity()` counts free buckets only and is not a measure of that.)
}

#[tokio::test]
async fn a_stream_message_waits_for_room_and_the_receiver_ends_when_producers_go() {
    let (tx, mut rx) = channel::<u32>(16, 1 << 20);
    // Fill half, then the stream's source past its share.
    for n in 0..8 {
        tx.push_datagram(v4(n), 10, n).unwrap();
    }
    tx.push_datagram(ip("127.0.0.9"), 10, 100).unwrap();
    tx.push_datagram(ip("127.0.0.9"), 10, 101).unwrap();
    assert_eq!(
        tx.push_datagram(ip("127.0.0.9"), 10, 102),
        Err(Refusal::Share)
    );
    let tx = Arc::new(tx);
    let stream = {
        let tx = tx.clone();
        tokio::spawn(async move { tx.push_stream(ip("127.0.0.9"), 10, 103).await })
    };
    // The stream waits; the queue is served meanwhile.
    tokio::task::yield_now().await;
    assert!(!stream.is_finished());
    let mut got = Vec::new();
    while got.len() < 11 {
        got.push(rx.recv().await.unwrap());
    }
    assert_eq!(stream.await.unwrap(), Ok(()));
    assert!(got.contains(&103));
    assert!(rx.is_empty());
    drop(Arc::try_unwrap(tx).ok().expect("one producer left"));
    assert_eq!(rx.recv().await, None);
}

#[tokio::test]
async fn a_waiting_stream_gives_up_when_the_receiver_is_gone() {
    let (tx, rx) = channel::<u32>(1, 1 << 20);
    tx.push_datagram(v4(1), 10, 1).unwrap();
    let tx = Arc::new(tx);
    let stream = {
        let tx = tx.clone();
        tokio::spawn(async move { tx.push_stream(v4(2), 10, 2).await })
    };
    tokio::task::yield_now().await;
    drop(rx);
    assert_eq!(stream.await.unwrap(), Err(2));
}

/// A thousand spoofed sources, one message each, fill the queue; registered phones'
/// messages are still queued (in the reserve) and served before the flood's.
#[test]
fn a_spoofed_many_source_flood_leaves_room_and_turns_to_priority_sources() {
    let mut q = FairQueue::new(1_000, 1 << 30);
    let phone = ip("127.200.0.1");
    q.set_priority_sources(PriorityClass::Registered, [phone]);
    let mut refused = 0;
    for n in 0..1_000u32 {
        match q.push(v4(n), 400, n) {
            Ok(()) => {}
            Err((r, _)) => {
                assert_eq!(r, Refusal::Reserved);
                refused += 1;
            }
        }
    }
    assert_eq!((q.len(), refused), (750, 250), "a quarter is reserved");
    for k in 0..3 {
        q.push(phone, 300, 10_000 + k)
            .expect("a phone's message fits in the reserve");
    }
    // The phone's three messages first (each after at most PRIORITY_BURST of its class).
    let first: Vec<_> = (0..3).map(|_| q.pop().unwrap()).collect();
    assert_eq!(first, [10_000, 10_001, 10_002]);
    assert_eq!(drain(&mut q).len(), 750);
}

#[test]
fn unknown_sources_get_a_turn_after_a_burst_of_priority_messages() {
    let mut q = FairQueue::new(1_000, 1 << 30);
    let trunk = ip("192.0.2.7");
    q.set_priority_sources(PriorityClass::Trunks, [trunk]);
    for n in 0..20u32 {
        q.push(v4(n), 100, n).unwrap();
        q.push(trunk, 100, 1_000 + n).unwrap();
    }
    let order = drain(&mut q);
    let burst = PRIORITY_BURST as usize;
    assert!(order[..burst].iter().all(|m| *m >= 1_000), "{order:?}");
    assert_eq!(order[burst], 0, "one unknown after the burst: {order:?}");
    assert!(order[burst + 1..=2 * burst].iter().all(|m| *m >= 1_000));
    assert_eq!(order.len(), 40);
}

#[test]
fn the_lists_are_replaced_whole_and_an_empty_set_reserves_nothing() {
    let mut q = FairQueue::new(8, 1 << 30);
    q.set_priority_sources(PriorityClass::Registered, [ip("10.0.0.1")]);
    q.set_priority_sources(PriorityClass::Trunks, [ip("10.0.0.2")]);
    q.set_priority_sources(PriorityClass::Registered, Vec::new());
    assert!(!q.is_priority(ip("10.0.0.1")));
    assert!(q.is_priority(ip("10.0.0.2")));
    q.set_priority_sources(PriorityClass::Trunks, Vec::new());
    for n in 0..8u32 {
        q.push(v4(n), 10, n)
            .expect("no reserve without priority sources");
    }
    assert_eq!(q.push(v4(9), 10, 9).unwrap_err(), (Refusal::Full, 9));
}
