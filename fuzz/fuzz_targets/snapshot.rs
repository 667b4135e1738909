//! Any byte stream from the tmux client, cut anywhere, with a guest joining at the cut: the
//! snapshot plus what follows gives the guest the screen of a terminal that saw everything.
#![no_main]

use libfuzzer_sys::fuzz_target;
use npair::hub::host_and_joiner;
use npair::size::Size;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, bytes)) = data.split_first() else {
        return;
    };
    let at = usize::from(cut) * bytes.len() / 255;
    let (host, guest) = host_and_joiner(Size::new(40, 12), bytes, at);
    assert_eq!(host.contents(), guest.contents());
    assert_eq!(host.cursor_position(), guest.cursor_position());
    assert_eq!(host.alternate_screen(), guest.alternate_screen());
});
