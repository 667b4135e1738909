//! Any byte stream from the tmux client, cut anywhere, with a guest joining at the cut: the
//! snapshot plus what follows gives the guest the screen of a terminal that saw everything.
#![no_main]

use std::num::NonZeroU16;

use libfuzzer_sys::fuzz_target;
use npair::hub::{Event, Hub};
use npair::size::Size;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, bytes)) = data.split_first() else {
        return;
    };
    let at = usize::from(cut) * bytes.len() / 255;
    let size = Size::new(40, 12);
    let hub = Hub::new(size);
    hub.process(&bytes[..at]);
    let mut sub = hub.subscribe();
    hub.process(&bytes[at..]);
    // The hub holds back an unfinished sequence until it completes (tmux always completes
    // them); a stream that ends inside one is completed here by CAN, which cancels any
    // sequence, as it would be by tmux's next bytes. Until then the host's terminal may have
    // acted on a control inside it (LF in ESC) that guests see a moment later.
    hub.process(b"\x18");

    let mut stream = sub.snapshot.to_vec();
    while let Ok(Event::Output(b)) = sub.events.try_recv() {
        stream.extend_from_slice(&b);
    }
    let nz = |v| NonZeroU16::new(v).unwrap();
    let mut host = vt100::Parser::new(nz(size.rows), nz(size.cols), 0);
    host.process(bytes);
    host.process(b"\x18");
    let mut guest = vt100::Parser::new(nz(size.rows), nz(size.cols), 0);
    guest.process(&stream);
    assert_eq!(host.screen().contents(), guest.screen().contents());
    assert_eq!(
        host.screen().cursor_position(),
        guest.screen().cursor_position()
    );
    assert_eq!(
        host.screen().alternate_screen(),
        guest.screen().alternate_screen()
    );
});
