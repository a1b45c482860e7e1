//! `sasl.jaas.config` in the Java client's exact syntax:
//! `<loginModuleClass> <controlFlag> (<optionName>=<optionValue>)*;`
//!
//! The tokens follow Kafka's `JaasConfig` (a `java.io.StreamTokenizer`): bytes up to space are
//! whitespace; `;` and `=` stand alone; `"` and `'` quote, with backslash escapes; `//`, `/* */`
//! and a lone `/` start comments; everything else makes words. The client takes exactly one
//! login module. Parsing borrows the text: options are found again on each lookup, and quoted
//! values keep their escapes until read ([`Text`]).

use core::fmt;

use super::text::Text;

/// Why `sasl.jaas.config` does not parse. Its `Display` names the setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum JaasError {
    /// No login module.
    Empty,
    /// The control flag (`required`, `requisite`, `sufficient`, `optional`) is missing or
    /// something else.
    ControlFlag,
    /// An option without `=value`.
    MissingValue,
    /// The entry does not end with `;`.
    MissingSemicolon,
    /// A quoted value runs to the end of the line or text.
    Unterminated,
    /// More than one login module (the client takes one).
    MultipleModules,
}

impl JaasError {
    /// What the setting should look like, for [`crate::config::ConfigError::InvalidValue`].
    pub const fn expected(self) -> &'static str {
        match self {
            Self::Empty => "a login module, e.g. org.apache.kafka.common.security.plain.PlainLoginModule required username=\"alice\" password=\"...\";",
            Self::ControlFlag => "a control flag after the login module: required, requisite, sufficient or optional",
            Self::MissingValue => "name=value options after the control flag (a value is missing)",
            Self::MissingSemicolon => "the login module entry to end with ';'",
            Self::Unterminated => "quoted values closed on the same line",
            Self::MultipleModules => "exactly one login module",
        }
    }
}

impl fmt::Display for JaasError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid sasl.jaas.config: expected {}", self.expected())
    }
}

impl core::error::Error for JaasError {}

/// The login modules kprod knows; the login module name is checked against the mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginModule {
    /// `org.apache.kafka.common.security.plain.PlainLoginModule`.
    Plain,
    /// `org.apache.kafka.common.security.scram.ScramLoginModule`.
    Scram,
    /// `org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule`.
    OAuthBearer,
    /// Any other class (e.g. Kerberos' `Krb5LoginModule`).
    Other,
}

/// A parsed `sasl.jaas.config`, borrowing its text. `Debug` lists the option names only: values
/// may be secrets.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct JaasConfig<'a> {
    text: &'a str,
    module: &'a str,
    /// Where the options start (after the control flag).
    options_at: usize,
}

impl<'a> JaasConfig<'a> {
    /// Parses and checks the whole text.
    pub fn parse(text: &'a str) -> Result<Self, JaasError> {
        let mut lx = Lexer { s: text, at: 0 };
        let Some(Tok::Word(module) | Tok::Quoted(module)) = lx.next()? else {
            return Err(JaasError::Empty);
        };
        match lx.next()? {
            Some(Tok::Word(flag))
                if ["required", "requisite", "sufficient", "optional"].iter().any(|f| f.eq_ignore_ascii_case(flag)) => {
            }
            _ => return Err(JaasError::ControlFlag),
        }
        let options_at = lx.at;
        loop {
            match lx.next()? {
                Some(Tok::Semi) => break,
                Some(Tok::Word(_) | Tok::Quoted(_)) => match (lx.next()?, lx.next()?) {
                    (Some(Tok::Eq), Some(Tok::Word(_) | Tok::Quoted(_))) => {}
                    _ => return Err(JaasError::MissingValue),
                },
                None => return Err(JaasError::MissingSemicolon),
                Some(_) => return Err(JaasError::MissingValue),
            }
        }
        if lx.next()?.is_some() {
            return Err(JaasError::MultipleModules);
        }
        Ok(Self { text, module, options_at })
    }

    /// The login module's class name.
    pub const fn module_name(&self) -> &'a str {
        self.module
    }

    /// The login module, if kprod knows it.
    pub fn module(&self) -> LoginModule {
        match self.module {
            "org.apache.kafka.common.security.plain.PlainLoginModule" => LoginModule::Plain,
            "org.apache.kafka.common.security.scram.ScramLoginModule" => LoginModule::Scram,
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule" => LoginModule::OAuthBearer,
            _ => LoginModule::Other,
        }
    }

    /// Every option, in order (a repeated name: the last one wins, as in Java's map).
    pub fn options(&self) -> Options<'a> {
        Options { lx: Lexer { s: self.text, at: self.options_at } }
    }

    /// The value of option `name`.
    pub fn option(&self, name: &str) -> Option<Text<'a>> {
        self.options().filter(|(k, _)| k.eq_str(name)).last().map(|(_, v)| v)
    }
}

impl fmt::Debug for JaasConfig<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("JaasConfig");
        s.field("module", &self.module);
        s.field("options", &OptionNames(*self));
        s.finish()
    }
}

struct OptionNames<'a>(JaasConfig<'a>);

impl fmt::Debug for OptionNames<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.options().map(|(k, _)| k)).finish()
    }
}

/// The options of a [`JaasConfig`] as `(name, value)`.
#[derive(Debug, Clone)]
pub struct Options<'a> {
    lx: Lexer<'a>,
}

impl<'a> Iterator for Options<'a> {
    type Item = (Text<'a>, Text<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        // The text was checked by `parse`, so the tokens come as name, `=`, value until `;`.
        let key = self.lx.next().ok()??.text()?;
        let _eq = self.lx.next().ok()??;
        let value = self.lx.next().ok()??.text()?;
        Some((key, value))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok<'a> {
    Word(&'a str),
    Quoted(&'a str),
    Semi,
    Eq,
}

impl<'a> Tok<'a> {
    fn text(self) -> Option<Text<'a>> {
        match self {
            Self::Word(w) => Some(Text::new(w)),
            Self::Quoted(q) => Some(Text::escaped(q)),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
struct Lexer<'a> {
    s: &'a str,
    at: usize,
}

impl<'a> Lexer<'a> {
    fn next(&mut self) -> Result<Option<Tok<'a>>, JaasError> {
        let b = self.s.as_bytes();
        loop {
            let Some(&c) = b.get(self.at) else {
                return Ok(None);
            };
            match c {
                0..=b' ' => self.at += 1,
                b'/' if b.get(self.at + 1) == Some(&b'*') => {
                    // An unterminated block comment runs to the end, as in StreamTokenizer.
                    self.at = self.s[self.at + 2..].find("*/").map_or(b.len(), |e| self.at + 2 + e + 2);
                }
                // `//` and a lone `/` (the comment character) run to the end of the line.
                b'/' => self.at = self.s[self.at..].find(['\n', '\r']).map_or(b.len(), |e| self.at + e),
                b';' => {
                    self.at += 1;
                    return Ok(Some(Tok::Semi));
                }
                b'=' => {
                    self.at += 1;
                    return Ok(Some(Tok::Eq));
                }
                b'"' | b'\'' => return self.quoted(c).map(Some),
                _ => {
                    let start = self.at;
                    while b.get(self.at).is_some_and(|&c| !matches!(c, 0..=b' ' | b';' | b'=' | b'"' | b'\'' | b'/')) {
                        self.at += 1;
                    }
                    return Ok(Some(Tok::Word(&self.s[start..self.at])));
                }
            }
        }
    }

    fn quoted(&mut self, quote: u8) -> Result<Tok<'a>, JaasError> {
        let b = self.s.as_bytes();
        let start = self.at + 1;
        let mut i = start;
        loop {
            match b.get(i) {
                None | Some(b'\n' | b'\r') => return Err(JaasError::Unterminated),
                Some(b'\\') => i += 2,
                Some(&c) if c == quote => {
                    self.at = i + 1;
                    return Ok(Tok::Quoted(&self.s[start..i]));
                }
                Some(_) => i += 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::string::ToString;

    const PLAIN: &str =
        r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="alice" password="alice-secret";"#;

    #[test]
    fn java_syntax_parses() {
        let j = JaasConfig::parse(PLAIN).unwrap();
        assert_eq!(j.module(), LoginModule::Plain);
        assert!(j.option("username").unwrap().eq_str("alice"));
        assert!(j.option("password").unwrap().eq_str("alice-secret"));
        assert!(j.option("nope").is_none());
        let scram = "org.apache.kafka.common.security.scram.ScramLoginModule REQUIRED\n  username=bob /* c */ password='p\\'w;=d' // x\n tokenauth=true;  ";
        let j = JaasConfig::parse(scram).unwrap();
        assert_eq!(j.module(), LoginModule::Scram);
        assert!(j.option("username").unwrap().eq_str("bob"));
        assert!(j.option("password").unwrap().eq_str("p'w;=d"));
        assert!(j.option("tokenauth").unwrap().eq_str("true"));
        assert_eq!(j.options().count(), 3);
    }

    #[test]
    fn malformed_text_is_a_typed_error() {
        let m = "org.apache.kafka.common.security.plain.PlainLoginModule";
        assert_eq!(JaasConfig::parse(""), Err(JaasError::Empty));
        assert_eq!(JaasConfig::parse(m), Err(JaasError::ControlFlag));
        assert_eq!(JaasConfig::parse(&[m, " mandatory;"].concat()), Err(JaasError::ControlFlag));
        assert_eq!(JaasConfig::parse(&[m, " required username=;"].concat()), Err(JaasError::MissingValue));
        assert_eq!(JaasConfig::parse(&[m, " required username"].concat()), Err(JaasError::MissingValue));
        assert_eq!(JaasConfig::parse(&[m, " required username=a"].concat()), Err(JaasError::MissingSemicolon));
        assert_eq!(JaasConfig::parse(&[m, " required a=\"x;"].concat()), Err(JaasError::Unterminated));
        assert_eq!(JaasConfig::parse(&[m, " required; ", m, " required;"].concat()), Err(JaasError::MultipleModules));
        assert!(JaasError::MissingValue.to_string().contains("sasl.jaas.config"));
    }

    #[test]
    fn debug_lists_names_not_values() {
        let j = JaasConfig::parse(PLAIN).unwrap();
        let shown = format!("{j:?}");
        assert!(shown.contains("password") && !shown.contains("alice-secret"), "{shown}");
    }
}
