//! The conversation with tmux in control mode: its lines, the answers we wait for, and the
//! state they build (the panes' models, which one is active).

use std::collections::{HashMap, VecDeque};
use std::io::Write;

use tokio::sync::oneshot;

use super::pane::{Pane, PaneInfo};
use super::{LIST_PANES, PENDING_BYTES, SYNC};

/// What the control-mode client has told us: the panes' models, which one is active, and
/// where in its conversation we are.
pub(super) struct State {
    /// Our tmux counts U+FE0F as widening (see `tmux::counts_vs16_wide`).
    pub(super) vs16_wide: bool,
    pub(super) panes: HashMap<u32, Pane>,
    pub(super) active: Option<u32>,
    /// No answer about the panes yet: output until then is already in the cursor positions
    /// the answer gives, and is dropped.
    pub(super) first: bool,
    /// Where our commands go (tmux's stdin); `None` once it is closed (and in unit tests).
    pub(super) commands: Option<Box<dyn Write + Send>>,
    /// The answers still to come to what we asked, in the order asked.
    pub(super) expected: VecDeque<Expect>,
    /// Something changed while `list-panes` was out: ask again once it is answered.
    pub(super) again: bool,
    /// Viewers waiting for the next [`SYNC`] to be sent (one is out already).
    pub(super) next_sync: Vec<oneshot::Sender<()>>,
    /// Inside a `%begin`/`%end` block: whether it answers us, and its lines.
    pub(super) block: Option<(bool, Vec<String>)>,
    /// Output of panes not known yet, until the next answer (see [`PENDING_BYTES`]).
    pub(super) pending: HashMap<u32, Vec<u8>>,
    pub(super) pending_bytes: usize,
    /// Why there is no more history, once the client has ended.
    pub(super) ended: Option<String>,
}

/// What an answer from tmux is to.
pub(super) enum Expect {
    Panes,
    /// A [`SYNC`]: the viewers waiting for it.
    Sync(Vec<oneshot::Sender<()>>),
}

/// One line from tmux in control mode, outside a block.
#[derive(Debug, PartialEq)]
pub(super) enum Line {
    Output {
        pane: u32,
        data: Vec<u8>,
    },
    /// `%begin TIME NUMBER FLAGS`; flag 1: a command this client sent.
    Begin {
        ours: bool,
    },
    /// Something that may move, resize, add or remove panes or change the active one.
    Changed,
    Exit(String),
    Other,
}

impl Line {
    pub(super) fn parse(line: &[u8]) -> Line {
        let (word, rest) = match line.iter().position(|&b| b == b' ') {
            Some(i) => (&line[..i], &line[i + 1..]),
            None => (line, &[][..]),
        };
        match word {
            b"%output" => {
                let (pane, data) = match rest.iter().position(|&b| b == b' ') {
                    Some(i) => (&rest[..i], &rest[i + 1..]),
                    None => (rest, &[][..]),
                };
                let pane = std::str::from_utf8(pane)
                    .ok()
                    .and_then(|p| p.strip_prefix('%'))
                    .and_then(|p| p.parse().ok());
                match pane {
                    Some(pane) => Line::Output {
                        pane,
                        data: unescape(data),
                    },
                    None => Line::Other,
                }
            }
            b"%begin" => Line::Begin {
                ours: rest
                    .rsplit(|&b| b == b' ')
                    .next()
                    .and_then(|f| std::str::from_utf8(f).ok())
                    .and_then(|f| f.parse::<u32>().ok())
                    .is_some_and(|f| f & 1 == 1),
            },
            b"%layout-change"
            | b"%window-pane-changed"
            | b"%session-window-changed"
            | b"%session-changed"
            | b"%window-add"
            | b"%window-close"
            | b"%unlinked-window-add"
            | b"%unlinked-window-close"
            | b"%sessions-changed" => Line::Changed,
            b"%exit" => Line::Exit(String::from_utf8_lossy(rest).into_owned()),
            _ => Line::Other,
        }
    }
}

/// `%output` data: bytes below 32 and the backslash come as `\ooo` (octal).
pub(super) fn unescape(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        let b = data[i];
        if b == b'\\'
            && i + 3 < data.len()
            && data[i + 1..=i + 3]
                .iter()
                .all(|d| (b'0'..=b'7').contains(d))
        {
            let v = data[i + 1..=i + 3]
                .iter()
                .fold(0u32, |v, d| v * 8 + u32::from(d - b'0'));
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b);
            i += 1;
        }
    }
    out
}

impl State {
    pub(super) fn new() -> State {
        State {
            vs16_wide: true,
            panes: HashMap::new(),
            active: None,
            first: true,
            commands: None,
            expected: VecDeque::new(),
            again: false,
            next_sync: Vec::new(),
            block: None,
            pending: HashMap::new(),
            pending_bytes: 0,
            ended: None,
        }
    }

    /// The client is there: commands go to `commands`, and the first is about the panes.
    pub(super) fn begin(&mut self, commands: Option<Box<dyn Write + Send>>) {
        self.commands = commands;
        self.ask(Expect::Panes);
    }

    /// Sends a command; its answer is expected after those asked before. (Under the state's
    /// lock, so that the order of the answers is the order of `expected`.)
    pub(super) fn ask(&mut self, what: Expect) {
        let command = match what {
            Expect::Panes => LIST_PANES,
            Expect::Sync(_) => SYNC,
        };
        if let Some(w) = &mut self.commands {
            if w.write_all(command.as_bytes())
                .and_then(|()| w.flush())
                .is_err()
            {
                self.commands = None;
                self.end("tmux's control-mode client stopped reading".to_owned());
                return;
            }
        }
        self.expected.push_back(what);
    }

    /// No more history will come: viewers waiting for a [`SYNC`] are let go.
    pub(super) fn end(&mut self, why: String) {
        self.ended.get_or_insert(why);
        self.expected.clear();
        self.next_sync.clear();
        self.commands = None;
    }

    /// A receiver that resolves once everything tmux read from the panes before now is in
    /// the models (or at once, with an error, when the client has ended).
    pub(super) fn sync(&mut self) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        if self.ended.is_some() {
            return rx;
        }
        // One out at a time, however many viewers ask: the others wait for the next.
        if self.expected.iter().any(|e| matches!(e, Expect::Sync(_))) {
            self.next_sync.push(tx);
        } else {
            self.ask(Expect::Sync(vec![tx]));
        }
        rx
    }

    /// Takes one line from tmux (without its newline).
    pub(super) fn feed(&mut self, line: &[u8]) {
        if let Some((ours, body)) = &mut self.block {
            let end = line.starts_with(b"%end ") || line.starts_with(b"%error ");
            if !end {
                if *ours {
                    body.push(String::from_utf8_lossy(line).into_owned());
                }
                return;
            }
            let ours = *ours;
            let body = std::mem::take(body);
            self.block = None;
            if ours {
                self.answered(line.starts_with(b"%end "), &body);
            }
            return;
        }
        match Line::parse(line) {
            Line::Output { pane, data } => self.output(pane, &data),
            Line::Begin { ours } => self.block = Some((ours, Vec::new())),
            Line::Changed => {
                if self.expected.iter().any(|e| matches!(e, Expect::Panes)) {
                    self.again = true;
                } else {
                    self.ask(Expect::Panes);
                }
            }
            Line::Exit(why) => self.end(if why.is_empty() {
                "tmux's control-mode client exited".to_owned()
            } else {
                format!("tmux's control-mode client exited: {why}")
            }),
            Line::Other => {}
        }
    }

    /// The answer to the oldest command still out: `ok` unless it was `%error`.
    pub(super) fn answered(&mut self, ok: bool, body: &[String]) {
        match self.expected.pop_front() {
            Some(Expect::Panes) => {
                if ok {
                    self.panes_are(body);
                }
                if std::mem::take(&mut self.again) {
                    self.ask(Expect::Panes);
                }
            }
            Some(Expect::Sync(waiting)) => {
                for w in waiting {
                    let _ = w.send(());
                }
                if !self.next_sync.is_empty() {
                    let next = std::mem::take(&mut self.next_sync);
                    self.ask(Expect::Sync(next));
                }
            }
            None => {}
        }
    }

    pub(super) fn output(&mut self, pane: u32, data: &[u8]) {
        if let Some(p) = self.panes.get_mut(&pane) {
            p.parser.process(data);
        } else if !self.first && self.pending_bytes + data.len() <= PENDING_BYTES {
            self.pending_bytes += data.len();
            self.pending
                .entry(pane)
                .or_default()
                .extend_from_slice(data);
        }
    }

    /// Our `list-panes` answer: models for new panes, sizes for the others, the active pane;
    /// panes gone from the session are dropped with their history.
    pub(super) fn panes_are(&mut self, body: &[String]) {
        let infos: Vec<PaneInfo> = body.iter().filter_map(|l| PaneInfo::parse(l)).collect();
        self.panes.retain(|id, _| infos.iter().any(|i| i.id == *id));
        self.active = None;
        for info in &infos {
            if info.active {
                self.active = Some(info.id);
            }
            match self.panes.get_mut(&info.id) {
                Some(p) => p.update(info),
                None if self.first => {
                    self.panes
                        .insert(info.id, Pane::at_share_start(info, self.vs16_wide));
                }
                None => {
                    // A pane made during the share starts blank with its cursor at the top;
                    // what it printed before this answer is replayed into it.
                    let mut p = Pane::new(info, self.vs16_wide);
                    if let Some(early) = self.pending.remove(&info.id) {
                        p.parser.process(&early);
                    }
                    self.panes.insert(info.id, p);
                }
            }
        }
        self.first = false;
        self.pending.clear();
        self.pending_bytes = 0;
    }
}
