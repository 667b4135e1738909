use crate::term::BufWrite as _;
use alloc::string::String;

/// Represents a foreground or background color for cells.
#[derive(Eq, PartialEq, Debug, Copy, Clone, Default)]
pub enum Color {
    /// The default terminal color.
    #[default]
    Default,

    /// An indexed terminal color.
    Idx(u8),

    /// An RGB terminal color. The parameters are (red, green, blue).
    Rgb(u8, u8, u8),
}

// npair: every SGR attribute tmux keeps, each its own bit (bold and dim are independent,
// as in xterm and tmux), plus the underline's style and colour.
const TEXT_MODE_BOLD: u16 = 1 << 0;
const TEXT_MODE_DIM: u16 = 1 << 1;
const TEXT_MODE_ITALIC: u16 = 1 << 2;
const TEXT_MODE_INVERSE: u16 = 1 << 4;
const TEXT_MODE_BLINK: u16 = 1 << 5;
const TEXT_MODE_CONCEAL: u16 = 1 << 6;
const TEXT_MODE_STRIKE: u16 = 1 << 7;
const TEXT_MODE_OVERLINE: u16 = 1 << 8;

/// The style of a cell's underline (SGR 4, 4:0 to 4:5, 21, 24).
#[derive(Eq, PartialEq, Debug, Copy, Clone, Default)]
pub enum UnderlineStyle {
    /// No underline.
    #[default]
    None,
    /// A single line.
    Single,
    /// Two lines.
    Double,
    /// A wavy line.
    Curly,
    /// A dotted line.
    Dotted,
    /// A dashed line.
    Dashed,
}

impl UnderlineStyle {
    /// The style that `4:n` selects; `None` for styles no terminal defines.
    pub(crate) fn from_param(n: u16) -> Option<Self> {
        Some(match n {
            0 => Self::None,
            1 => Self::Single,
            2 => Self::Double,
            3 => Self::Curly,
            4 => Self::Dotted,
            5 => Self::Dashed,
            _ => return None,
        })
    }

    fn param(self) -> u8 {
        match self {
            Self::None => 0,
            Self::Single => 1,
            Self::Double => 2,
            Self::Curly => 3,
            Self::Dotted => 4,
            Self::Dashed => 5,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Attrs {
    pub fgcolor: Color,
    pub bgcolor: Color,
    pub ulcolor: Color,
    pub mode: u16,
    pub ulstyle: UnderlineStyle,
}

impl Default for Attrs {
    fn default() -> Self {
        Self::new()
    }
}

macro_rules! flag {
    ($get:ident, $set:ident, $bit:ident) => {
        pub fn $get(&self) -> bool {
            self.mode & $bit != 0
        }

        pub fn $set(&mut self, on: bool) {
            if on {
                self.mode |= $bit;
            } else {
                self.mode &= !$bit;
            }
        }
    };
}

impl Attrs {
    pub const fn new() -> Self {
        Self {
            fgcolor: Color::Default,
            bgcolor: Color::Default,
            ulcolor: Color::Default,
            mode: 0,
            ulstyle: UnderlineStyle::None,
        }
    }

    flag!(bold, set_bold_to, TEXT_MODE_BOLD);
    flag!(dim, set_dim_to, TEXT_MODE_DIM);
    flag!(italic, set_italic, TEXT_MODE_ITALIC);
    flag!(inverse, set_inverse, TEXT_MODE_INVERSE);
    flag!(blink, set_blink, TEXT_MODE_BLINK);
    flag!(concealed, set_concealed, TEXT_MODE_CONCEAL);
    flag!(strikethrough, set_strikethrough, TEXT_MODE_STRIKE);
    flag!(overline, set_overline, TEXT_MODE_OVERLINE);

    pub fn set_bold(&mut self) {
        self.set_bold_to(true);
    }

    pub fn set_dim(&mut self) {
        self.set_dim_to(true);
    }

    pub fn set_normal_intensity(&mut self) {
        self.mode &= !(TEXT_MODE_BOLD | TEXT_MODE_DIM);
    }

    pub fn underline(&self) -> bool {
        self.ulstyle != UnderlineStyle::None
    }

    pub fn set_underline(&mut self, underline: bool) {
        self.ulstyle = if underline {
            UnderlineStyle::Single
        } else {
            UnderlineStyle::None
        };
    }

    pub fn write_escape_code_diff(
        &self,
        contents: &mut String,
        other: &Self,
    ) {
        self.write_escape_code_diff_fmt(contents, other)
            .expect("writing to a String cannot fail");
    }

    /// npair: writes what turns `other` into `self`: nothing when they are
    /// the same, else a reset followed by every attribute of `self` (one
    /// sequence, whatever changed; simpler than a minimal diff, and exact).
    pub fn write_escape_code_diff_fmt(
        &self,
        writer: &mut impl alloc::fmt::Write,
        other: &Self,
    ) -> alloc::fmt::Result {
        if self == other {
            return Ok(());
        }
        if self == &Self::default() {
            return crate::term::ClearAttrs.write_fmt(writer);
        }
        writer.write_str("\x1b[0")?;
        write_color(writer, self.fgcolor, 30, 90, 38)?;
        write_color(writer, self.bgcolor, 40, 100, 48)?;
        for (on, code) in [
            (self.bold(), ";1"),
            (self.dim(), ";2"),
            (self.italic(), ";3"),
            (self.blink(), ";5"),
            (self.inverse(), ";7"),
            (self.concealed(), ";8"),
            (self.strikethrough(), ";9"),
            (self.overline(), ";53"),
        ] {
            if on {
                writer.write_str(code)?;
            }
        }
        match self.ulstyle {
            UnderlineStyle::None => {}
            UnderlineStyle::Single => writer.write_str(";4")?,
            style => {
                writer.write_str(";4:")?;
                write_num(writer, style.param())?;
            }
        }
        match self.ulcolor {
            Color::Default => {}
            Color::Idx(i) => {
                writer.write_str(";58:5:")?;
                write_num(writer, i)?;
            }
            Color::Rgb(r, g, b) => {
                writer.write_str(";58:2::")?;
                write_num(writer, r)?;
                writer.write_char(':')?;
                write_num(writer, g)?;
                writer.write_char(':')?;
                write_num(writer, b)?;
            }
        }
        writer.write_char('m')
    }
}

/// A number in decimal, without the formatting machinery (snapshots write many).
fn write_num(writer: &mut impl alloc::fmt::Write, n: u8) -> alloc::fmt::Result {
    let mut buf = itoa::Buffer::new();
    writer.write_str(buf.format(n))
}

/// `;` and a colour in SGR: `base + i` for the first 8, `bright + i - 8`
/// for the next 8, `extended;5;i` or `extended;2;r;g;b` beyond.
fn write_color(
    writer: &mut impl alloc::fmt::Write,
    color: Color,
    base: u8,
    bright: u8,
    extended: u8,
) -> alloc::fmt::Result {
    match color {
        Color::Default => Ok(()),
        Color::Idx(i) if i < 8 => {
            writer.write_char(';')?;
            write_num(writer, base + i)
        }
        Color::Idx(i) if i < 16 => {
            writer.write_char(';')?;
            write_num(writer, bright + i - 8)
        }
        Color::Idx(i) => {
            writer.write_char(';')?;
            write_num(writer, extended)?;
            writer.write_str(";5;")?;
            write_num(writer, i)
        }
        Color::Rgb(r, g, b) => {
            writer.write_char(';')?;
            write_num(writer, extended)?;
            writer.write_str(";2;")?;
            write_num(writer, r)?;
            writer.write_char(';')?;
            write_num(writer, g)?;
            writer.write_char(';')?;
            write_num(writer, b)
        }
    }
}
