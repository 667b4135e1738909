//! Guests' names: the comment of the key a guest logged in with (`--authorized-keys`), else the
//! name it gave (`ssh -o SetEnv=NPAIR_NAME=alice`), else `guest N`. A name is shown in the
//! host's status line, notices, `npair status`, the web page and the recording, so one a guest
//! gives is checked here before it is kept; and the host's commands find guests by id or name.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// The one environment variable an SSH guest may send: the name it wants to be shown by.
pub const NAME_VARIABLE: &str = "NPAIR_NAME";

/// Characters of a name at most: a name fits in a status line next to another one.
pub const MAX_NAME_CHARS: usize = 32;

/// Why a name a guest gave is not used.
#[derive(Debug, PartialEq, Eq)]
pub enum BadName {
    Empty,
    /// Control characters: an escape sequence, a newline, a tab; shown, they would act.
    Control,
    /// Characters that show nothing or turn the text around (zero-width, bidi overrides): a
    /// name that looks like another's.
    Invisible,
    TooLong(usize),
    /// Digits only: it would read as a guest id in `npair kick 3`.
    Number,
    /// `guest N`: how npair shows a guest with no name, so it could pass for another guest.
    Reserved,
}

impl std::fmt::Display for BadName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BadName::Empty => f.write_str("is empty"),
            BadName::Control => {
                f.write_str("has control characters (an escape sequence, a newline or a tab, say)")
            }
            BadName::Invisible => f.write_str(
                "has invisible or text-reversing characters (zero-width, bidirectional controls)",
            ),
            BadName::TooLong(n) => write!(f, "is {n} characters long"),
            BadName::Number => f.write_str("is a number, which would read as a guest id"),
            BadName::Reserved => f.write_str(
                "is how npair names a guest without a name, so it could pass for another guest",
            ),
        }
    }
}

/// Characters that print nothing, or change the direction or joining of the text around them:
/// format characters a name has no use for, whatever its script.
fn invisible(c: char) -> bool {
    matches!(c,
        '\u{00ad}' | '\u{034f}' | '\u{061c}' | '\u{115f}' | '\u{1160}' | '\u{17b4}' | '\u{17b5}'
        | '\u{180b}'..='\u{180f}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}'
        | '\u{2060}'..='\u{206f}' | '\u{3164}' | '\u{fe00}'..='\u{fe0f}' | '\u{feff}'
        | '\u{ffa0}' | '\u{fff0}'..='\u{fffb}' | '\u{e0000}'..='\u{e0fff}')
        || (c.is_whitespace() && c != ' ')
}

/// Whether `name` is what npair calls a guest without a name (`guest 7`, in any case).
fn reserved(name: &str) -> bool {
    let lower = name.to_lowercase();
    lower
        .strip_prefix("guest")
        .map(str::trim_start)
        .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
}

/// The name a guest gave, trimmed, when it may be shown as it is.
pub fn parse(raw: &str) -> Result<Arc<str>, BadName> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(BadName::Empty);
    }
    if name.chars().any(char::is_control) {
        return Err(BadName::Control);
    }
    if name.chars().any(invisible) {
        return Err(BadName::Invisible);
    }
    let n = name.chars().count();
    if n > MAX_NAME_CHARS {
        return Err(BadName::TooLong(n));
    }
    if name.chars().all(|c| c.is_ascii_digit()) {
        return Err(BadName::Number);
    }
    if reserved(name) {
        return Err(BadName::Reserved);
    }
    Ok(name.into())
}

/// The name a key's comment gives (`bob@laptop`). The comment is the host's own words, so it
/// is cleaned rather than refused: what cannot be shown is dropped and the rest is cut to
/// [`MAX_NAME_CHARS`]; a comment with nothing left (or a number, or `guest N`) gives none.
pub fn from_key_comment(comment: &str) -> Option<Arc<str>> {
    let kept: String = comment
        .chars()
        .filter(|&c| !c.is_control() && !invisible(c))
        .collect();
    let cut: String = kept.trim().chars().take(MAX_NAME_CHARS).collect();
    parse(&cut).ok()
}

/// A guest as the host names it on the command line: by id (`3`) or by name (`alice`). Names
/// are never all digits ([`BadName::Number`]), so a number is always an id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Who {
    Id(u64),
    Name(String),
}

impl Who {
    pub fn parse(s: &str) -> Who {
        match s.parse() {
            Ok(id) => Who::Id(id),
            Err(_) => Who::Name(s.to_owned()),
        }
    }
}

/// A guest as answers to the host's commands name it: `alice (guest 3)`, or `guest 3`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestRef {
    pub id: u64,
    /// `None` for a guest without a name.
    pub name: Option<String>,
}

impl std::fmt::Display for GuestRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{name} (guest {})", self.id),
            None => write!(f, "guest {}", self.id),
        }
    }
}

/// One guest as a name is looked up among them.
pub(super) struct Candidate {
    pub(super) id: u64,
    pub(super) name: Option<Arc<str>>,
    /// What tells two guests of the same name apart: role and address.
    pub(super) about: String,
}

impl Candidate {
    fn shown(&self) -> String {
        match &self.name {
            Some(n) => format!("{n} (id {}, {})", self.id, self.about),
            None => format!("guest {} (id {}, {})", self.id, self.id, self.about),
        }
    }
}

/// The id of the one guest `name` means: its exact name, else the same name in another case,
/// else `guest N` for guest N. None, or several, is an error that lists the choices.
pub(super) fn resolve(name: &str, guests: &[Candidate]) -> Result<u64, String> {
    let exact: Vec<&Candidate> = guests
        .iter()
        .filter(|g| g.name.as_deref() == Some(name))
        .collect();
    let matches = if exact.is_empty() {
        guests
            .iter()
            .filter(|g| {
                g.name
                    .as_deref()
                    .is_some_and(|n| n.to_lowercase() == name.to_lowercase())
            })
            .collect()
    } else {
        exact
    };
    match matches.as_slice() {
        [one] => return Ok(one.id),
        [] => {}
        several => {
            let list: Vec<String> = several.iter().map(|g| g.shown()).collect();
            return Err(format!(
                "{} guests are named '{name}': {}; give the id of the one you mean instead",
                several.len(),
                list.join(", ")
            ));
        }
    }
    if reserved(name) {
        let digits = name.trim_start_matches(|c: char| !c.is_ascii_digit());
        if let Some(g) = digits
            .parse::<u64>()
            .ok()
            .and_then(|id| guests.iter().find(|g| g.id == id))
        {
            return Ok(g.id);
        }
    }
    if guests.is_empty() {
        return Err(format!("no guest is named '{name}': no guest is connected"));
    }
    let list: Vec<String> = guests.iter().map(Candidate::shown).collect();
    Err(format!(
        "no guest is named '{name}'; the guests are: {} (`npair status` lists them)",
        list.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_printable_short_and_trimmed() {
        assert_eq!(parse("  alice ").unwrap().as_ref(), "alice");
        assert_eq!(parse("Zoë Ünal").unwrap().as_ref(), "Zoë Ünal");
        assert_eq!(parse("小明").unwrap().as_ref(), "小明");
        assert_eq!(parse("bob@laptop #2").unwrap().as_ref(), "bob@laptop #2");
        assert_eq!(parse(&"a".repeat(32)).unwrap().len(), 32);
        assert_eq!(parse(&"a".repeat(33)), Err(BadName::TooLong(33)));
        assert_eq!(parse(&"a".repeat(200)), Err(BadName::TooLong(200)));
        assert_eq!(parse(""), Err(BadName::Empty));
        assert_eq!(parse("   "), Err(BadName::Empty));
        assert_eq!(parse("\u{1b}[31m"), Err(BadName::Control));
        assert_eq!(parse("al\u{1b}]0;pwned\u{7}ice"), Err(BadName::Control));
        assert_eq!(parse("ali\nce"), Err(BadName::Control));
        assert_eq!(parse("ali\tce"), Err(BadName::Control));
        assert_eq!(parse("al\u{9b}31mice"), Err(BadName::Control));
        assert_eq!(parse("ali\u{202e}ecb"), Err(BadName::Invisible));
        assert_eq!(parse("ali\u{200b}ce"), Err(BadName::Invisible));
        assert_eq!(parse("ali\u{a0}ce"), Err(BadName::Invisible));
        assert_eq!(parse("42"), Err(BadName::Number));
        assert_eq!(parse("guest 2"), Err(BadName::Reserved));
        assert_eq!(parse("Guest7"), Err(BadName::Reserved));
        assert_eq!(parse("guest").unwrap().as_ref(), "guest");
        assert_eq!(parse("guest star").unwrap().as_ref(), "guest star");
        // Every refusal says what is wrong with the name.
        assert!(BadName::TooLong(200).to_string().contains("200 characters"));
    }

    #[test]
    fn a_key_comment_is_cleaned_rather_than_refused() {
        assert_eq!(
            from_key_comment("bob@laptop").as_deref(),
            Some("bob@laptop")
        );
        assert_eq!(
            from_key_comment("bob\u{1b}[31m@laptop").as_deref(),
            Some("bob[31m@laptop")
        );
        let long = from_key_comment(&"x".repeat(50)).unwrap();
        assert_eq!(long.chars().count(), MAX_NAME_CHARS);
        assert_eq!(from_key_comment(""), None);
        assert_eq!(from_key_comment("1234"), None);
        assert_eq!(from_key_comment("guest 1"), None);
    }

    #[test]
    fn a_number_is_an_id_and_anything_else_a_name() {
        assert_eq!(Who::parse("3"), Who::Id(3));
        assert_eq!(Who::parse("alice"), Who::Name("alice".into()));
        assert_eq!(Who::parse("guest 3"), Who::Name("guest 3".into()));
        assert_eq!(serde_json::to_string(&Who::Id(3)).unwrap(), "3");
        assert_eq!(serde_json::to_string(&Who::parse("al")).unwrap(), "\"al\"");
        assert_eq!(
            serde_json::from_str::<Who>("\"al\"").unwrap(),
            Who::parse("al")
        );
        let alice = GuestRef {
            id: 3,
            name: Some("alice".into()),
        };
        assert_eq!(alice.to_string(), "alice (guest 3)");
        assert_eq!(GuestRef { id: 4, name: None }.to_string(), "guest 4");
    }

    fn guests() -> Vec<Candidate> {
        let g = |id, name: Option<&str>, about: &str| Candidate {
            id,
            name: name.map(Into::into),
            about: about.to_owned(),
        };
        vec![
            g(1, Some("alice"), "rw, from 10.0.0.5:5000"),
            g(2, None, "ro, from 10.0.0.6:5000"),
            g(3, Some("bob"), "ro, from 10.0.0.7:5000"),
            g(4, Some("bob"), "rw, from 10.0.0.8:5000"),
            g(5, Some("Carol"), "web, from 10.0.0.9:5000"),
        ]
    }

    #[test]
    fn a_name_finds_one_guest_or_says_which_it_could_be() {
        let g = guests();
        assert_eq!(resolve("alice", &g), Ok(1));
        assert_eq!(resolve("carol", &g), Ok(5));
        assert_eq!(resolve("guest 2", &g), Ok(2));
        assert_eq!(resolve("guest 1", &g), Ok(1));

        let several = resolve("bob", &g).unwrap_err();
        assert!(several.starts_with("2 guests are named 'bob'"), "{several}");
        assert!(
            several.contains("bob (id 3, ro, from 10.0.0.7:5000)"),
            "{several}"
        );
        assert!(
            several.contains("bob (id 4, rw, from 10.0.0.8:5000)"),
            "{several}"
        );
        assert!(several.contains("give the id"), "{several}");

        let none = resolve("alcie", &g).unwrap_err();
        assert!(none.starts_with("no guest is named 'alcie'"), "{none}");
        assert!(none.contains("alice (id 1, rw"), "{none}");
        assert!(none.contains("guest 2 (id 2, ro"), "{none}");
        assert!(resolve("guest 9", &g)
            .unwrap_err()
            .contains("no guest is named 'guest 9'"));
        assert!(resolve("x", &[])
            .unwrap_err()
            .contains("no guest is connected"));
    }
}
