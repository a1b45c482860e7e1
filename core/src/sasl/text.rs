//! Borrowed configuration text: plain, or a JAAS quoted value whose escapes are undone on use
//! (no copy, no heap), and [`Secret`], whose `Debug` hides it.

use core::fmt;

/// A string from the configuration. Either plain text, or the raw inside of a quoted
/// `sasl.jaas.config` value, whose backslash escapes (Java's `StreamTokenizer` rules: `\n`, `\t`,
/// octal `\101`, `\"`, ...) are undone as it is read. Borrowing the configuration keeps the
/// core free of a heap and of a length limit.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Text<'a> {
    raw: &'a str,
    escaped: bool,
}

impl<'a> Text<'a> {
    /// Plain text, taken as it is.
    pub const fn new(text: &'a str) -> Self {
        Self { raw: text, escaped: false }
    }

    /// The raw inside of a quoted JAAS value, escapes still in it.
    pub(crate) const fn escaped(raw: &'a str) -> Self {
        Self { raw, escaped: true }
    }

    /// The text as configured, and whether its escapes are still in it.
    pub(crate) const fn raw(&self) -> (&'a str, bool) {
        (self.raw, self.escaped)
    }

    /// The characters, escapes undone.
    pub fn chars(&self) -> Chars<'a> {
        Chars { rest: self.raw.chars(), escaped: self.escaped }
    }

    /// The UTF-8 length, escapes undone.
    pub fn len(&self) -> usize {
        if self.escaped {
            self.chars().map(char::len_utf8).sum()
        } else {
            self.raw.len()
        }
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether it reads as `s`.
    pub fn eq_str(&self, s: &str) -> bool {
        self.chars().eq(s.chars())
    }

    /// The plain `&str` when nothing needs undoing (no backslash in it).
    pub fn as_plain(&self) -> Option<&'a str> {
        (!self.escaped || !self.raw.contains('\\')).then_some(self.raw)
    }

    /// Hands the UTF-8 bytes to `out`, in pieces.
    pub fn for_each_piece<E>(&self, mut out: impl FnMut(&[u8]) -> Result<(), E>) -> Result<(), E> {
        if let Some(plain) = self.as_plain() {
            return out(plain.as_bytes());
        }
        let mut utf8 = [0u8; 4];
        self.chars().try_for_each(|c| out(c.encode_utf8(&mut utf8).as_bytes()))
    }

    /// Copies the UTF-8 bytes into `buf`; `None` if they do not fit.
    pub fn copy_to<'b>(&self, buf: &'b mut [u8]) -> Option<&'b [u8]> {
        let mut at = 0;
        self.for_each_piece(|piece| {
            let end = at + piece.len();
            buf.get_mut(at..end).ok_or(())?.copy_from_slice(piece);
            at = end;
            Ok::<(), ()>(())
        })
        .ok()?;
        Some(&buf[..at])
    }

    /// Parses a decimal number.
    pub fn parse_u64(&self) -> Option<u64> {
        let mut n: u64 = 0;
        let mut any = false;
        for c in self.chars() {
            n = n.checked_mul(10)?.checked_add(u64::from(c.to_digit(10)?))?;
            any = true;
        }
        any.then_some(n)
    }
}

impl fmt::Debug for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.raw, f)
    }
}

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write;
        self.chars().try_for_each(|c| f.write_char(c))
    }
}

/// The characters of a [`Text`].
#[derive(Debug, Clone)]
pub struct Chars<'a> {
    rest: core::str::Chars<'a>,
    escaped: bool,
}

impl Iterator for Chars<'_> {
    type Item = char;

    fn next(&mut self) -> Option<char> {
        let c = self.rest.next()?;
        if !self.escaped || c != '\\' {
            return Some(c);
        }
        let Some(e) = self.rest.next() else {
            return Some('\\');
        };
        Some(match e {
            'a' => '\x07',
            'b' => '\x08',
            'f' => '\x0c',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'v' => '\x0b',
            '0'..='7' => self.octal(e),
            other => other,
        })
    }
}

impl Chars<'_> {
    /// `StreamTokenizer`'s octal escape: up to three digits when the first is 0-3, else two.
    fn octal(&mut self, first: char) -> char {
        let mut value = first as u32 - '0' as u32;
        let max_digits = if first <= '3' { 3 } else { 2 };
        for _ in 1..max_digits {
            let mut peek = self.rest.clone();
            match peek.next().and_then(|c| c.to_digit(8)) {
                Some(d) => {
                    value = value * 8 + d;
                    self.rest = peek;
                }
                None => break,
            }
        }
        // At most 0o377: always a valid char.
        char::from_u32(value).unwrap_or('\u{fffd}')
    }
}

/// A password or token. Its `Debug` prints a placeholder, so a configuration can be logged.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Secret<'a>(pub Text<'a>);

impl<'a> Secret<'a> {
    /// A secret from plain text.
    pub const fn new(text: &'a str) -> Self {
        Self(Text::new(text))
    }

    /// The secret text. Keep it out of logs.
    pub const fn expose(&self) -> Text<'a> {
        self.0
    }
}

impl fmt::Debug for Secret<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<hidden>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_undone_as_java_does() {
        let t = Text::escaped(r#"a\"b\\c\n\101\7x\q"#);
        let mut buf = [0u8; 32];
        assert_eq!(t.copy_to(&mut buf).unwrap(), b"a\"b\\c\nA\x07xq");
        assert_eq!(t.len(), 10);
        assert!(Text::new("p\\n").eq_str("p\\n"));
        assert!(t.as_plain().is_none());
        assert_eq!(Text::escaped("4096").parse_u64(), Some(4096));
        assert_eq!(Text::new("").parse_u64(), None);
        assert!(Text::new("abc").copy_to(&mut [0u8; 2]).is_none());
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("hunter2");
        assert!(!alloc::format!("{s:?}").contains("hunter2"));
    }
}
