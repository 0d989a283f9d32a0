//! RFC 6570 URI templates compiled to linear-time regular expressions.
//!
//! Mercure topic selectors may be URI templates: a subscriber's selector
//! matches an update's topic when the topic is a possible expansion of the
//! template. Crates for URI templates only *expand* them, so this crate does
//! the reverse: it parses a template (all four levels of RFC 6570) and
//! compiles it into an anchored [`regex::Regex`] accepting every string that
//! some assignment of the template's variables could expand to.
//!
//! Templates and topics both come from the network, so matching must stay
//! cheap whatever they contain: the `regex` crate guarantees linear-time
//! matching, templates longer than [`MAX_TEMPLATE_LEN`] are rejected, and the
//! compiled program is bounded by a size limit. Any template that cannot be
//! handled is a [`TemplateError`], never a panic; the hub then falls back to
//! comparing the selector as an exact string.
//!
//! # Matching semantics
//!
//! The reference hub delegates to a Go library that builds a regular
//! expression per template; we follow its shape but are faithful to RFC 6570
//! where it is looser or stricter:
//!
//! * Simple, `.`, `/`, `;`, `?` and `&` expressions accept unreserved
//!   characters and pct-encoded triplets; `+` and `#` also accept reserved
//!   characters. Raw non-ASCII characters are never a valid expansion of a
//!   variable (they would be pct-encoded), which is also what Go does.
//! * Non-exploded values may contain `,` because lists and associative arrays
//!   expand to comma-separated items.
//! * Named operators (`;`, `?`, `&`) must spell the variable's own name, in
//!   template order, each variable being optional (undefined variables are
//!   omitted), and values cannot contain a raw `=` (it would be encoded).
//!   *Deviation:* Go accepts any name there, in any order, e.g. `{?x,y}`
//!   matches `?page=1` or `?x=a=b` in Go but not here.
//! * Prefix modifiers (`{var:3}`) bound the number of characters; a
//!   pct-encoded character counts as one. *Deviation:* Go ignores the bound.
//!   Bounds above [`MAX_ENFORCED_PREFIX`] are treated as unbounded so that
//!   a valid template does not compile into an oversized program.
//! * Exploded values are sequences of items joined by the operator's
//!   separator; items may be `key=value` pairs (associative arrays). For named
//!   operators each item must look like `name=value` (or `name` for `;`).
//!   *Deviation:* Go accepts any characters of the class, e.g. `?a&b`.
//! * Literals match themselves exactly, including pct-encoded triplets (no
//!   case folding or decoding); triplets inside values may use either case.
//!
//! Every valid template is accepted except those whose matcher would be too
//! large: roughly more than 80 variables in one expression (regex nesting
//! limit) or more than about 3000 prefix-counted characters in total. Those
//! give [`TemplateError::TooComplex`].

use std::fmt;
use std::str::FromStr;

use regex::{Regex, RegexBuilder};

/// Longest template accepted, in bytes. Keeps parsing and compilation cheap
/// for hostile input; real selectors are far shorter.
pub const MAX_TEMPLATE_LEN: usize = 4096;

/// Prefix lengths above this are matched as if unbounded (a superset of the
/// valid expansions), because a bounded repetition is unrolled in the
/// compiled program (each counted character costs roughly 300 bytes of the
/// size limit) and `{var:9999}` would not fit. Prefixes that long are
/// truncations for display, not a way to tell topics apart.
pub const MAX_ENFORCED_PREFIX: u16 = 64;

/// Upper bound on the compiled program, so that one template cannot use
/// more than about this much memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Why a string is not a usable URI template. Positions are byte offsets
/// into the template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The template exceeds [`MAX_TEMPLATE_LEN`].
    #[error("template is {len} bytes long, the maximum is {max}")]
    TooLong { len: usize, max: usize },
    /// A character that RFC 6570 does not allow in literals (space, `"`,
    /// `<`, `>`, `\`, `^`, `` ` ``, `|`, `}`, controls...).
    #[error("character {ch:?} at byte {position} is not allowed in a URI template literal")]
    InvalidLiteral { position: usize, ch: char },
    /// A `%` not followed by two hexadecimal digits.
    #[error("incomplete percent-encoded triplet at byte {position}")]
    InvalidPctEncoding { position: usize },
    /// An expression opened with `{` is never closed.
    #[error("expression opened at byte {position} is not closed")]
    UnclosedExpression { position: usize },
    /// One of the operators RFC 6570 reserves for future use (`= , ! @ |`).
    #[error("operator {op:?} at byte {position} is reserved and not supported")]
    ReservedOperator { position: usize, op: char },
    /// An empty or malformed variable name.
    #[error("invalid variable name at byte {position}: {reason}")]
    InvalidVarName {
        position: usize,
        reason: &'static str,
    },
    /// A prefix modifier that is not an integer in 1..=9999.
    #[error("invalid prefix length at byte {position}: must be an integer from 1 to 9999")]
    InvalidPrefix { position: usize },
    /// Something other than `,` or `}` after a variable specification.
    #[error("unexpected character {ch:?} at byte {position} in expression")]
    UnexpectedChar { position: usize, ch: char },
    /// The template is valid but its regular expression could not be built,
    /// most likely because it exceeds the size limit.
    #[error("template is too complex to match: {reason}")]
    TooComplex { reason: String },
}

/// A parsed URI template, ready to match topics.
#[derive(Debug, Clone)]
pub struct UriTemplate {
    raw: String,
    regex: Regex,
}

impl UriTemplate {
    /// Parses `template` and compiles its matcher.
    pub fn parse(template: &str) -> Result<UriTemplate, TemplateError> {
        if template.len() > MAX_TEMPLATE_LEN {
            return Err(TemplateError::TooLong {
                len: template.len(),
                max: MAX_TEMPLATE_LEN,
            });
        }
        let parts = parse_parts(template)?;
        let pattern = to_regex(&parts);
        let regex = RegexBuilder::new(&pattern)
            .size_limit(REGEX_SIZE_LIMIT)
            .dfa_size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|err| TemplateError::TooComplex {
                reason: match err {
                    regex::Error::CompiledTooBig(limit) => {
                        format!("the compiled matcher would exceed {limit} bytes")
                    }
                    // The pattern is generated, so a syntax error can only be
                    // a resource limit (nesting depth, grows with the number
                    // of variables in one expression). Its message quotes
                    // the whole pattern: keep only the final line.
                    other => other
                        .to_string()
                        .lines()
                        .last()
                        .unwrap_or_default()
                        .trim_start_matches("error: ")
                        .to_owned(),
                },
            })?;
        Ok(UriTemplate {
            raw: template.to_owned(),
            regex,
        })
    }

    /// Whether `topic` is a possible expansion of the template.
    pub fn is_match(&self, topic: &str) -> bool {
        self.regex.is_match(topic)
    }

    /// The template text this was parsed from.
    pub fn as_str(&self) -> &str {
        &self.raw
    }
}

impl FromStr for UriTemplate {
    type Err = TemplateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        UriTemplate::parse(s)
    }
}

impl fmt::Display for UriTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// Whether `s` should be tried as a URI template. A string without `{` is
/// a valid template too, but it only matches itself, which the hub already
/// checks by exact comparison.
pub fn looks_like_template(s: &str) -> bool {
    s.contains('{')
}

/// A piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part<'a> {
    Literal(&'a str),
    Expression(Expression<'a>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Expression<'a> {
    op: Operator,
    vars: Vec<VarSpec<'a>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct VarSpec<'a> {
    name: &'a str,
    modifier: Modifier,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Modifier {
    None,
    Prefix(u16),
    Explode,
}

/// Expression operators, RFC 6570 §2.2 and the table of appendix A.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    Simple,
    Reserved,
    Fragment,
    Label,
    Path,
    PathParam,
    Query,
    QueryCont,
}

impl Operator {
    fn from_char(c: char) -> Option<Operator> {
        Some(match c {
            '+' => Operator::Reserved,
            '#' => Operator::Fragment,
            '.' => Operator::Label,
            '/' => Operator::Path,
            ';' => Operator::PathParam,
            '?' => Operator::Query,
            '&' => Operator::QueryCont,
            _ => return None,
        })
    }

    /// Written before the first defined variable.
    fn first(self) -> &'static str {
        match self {
            Operator::Simple | Operator::Reserved => "",
            Operator::Fragment => "#",
            Operator::Label => ".",
            Operator::Path => "/",
            Operator::PathParam => ";",
            Operator::Query => "?",
            Operator::QueryCont => "&",
        }
    }

    /// Written between defined variables and between exploded items.
    fn sep(self) -> char {
        match self {
            Operator::Simple | Operator::Reserved | Operator::Fragment => ',',
            Operator::Label => '.',
            Operator::Path => '/',
            Operator::PathParam => ';',
            Operator::Query | Operator::QueryCont => '&',
        }
    }

    /// Whether values are written as `name=value`.
    fn named(self) -> bool {
        matches!(
            self,
            Operator::PathParam | Operator::Query | Operator::QueryCont
        )
    }

    /// Whether `name=` is written for an empty value (`?`, `&`) rather than
    /// just `name` (`;`). Only meaningful for named operators.
    fn equals_if_empty(self) -> bool {
        matches!(self, Operator::Query | Operator::QueryCont)
    }

    /// Whether values keep reserved characters unencoded (allowed set U+R
    /// instead of U).
    fn allows_reserved(self) -> bool {
        matches!(self, Operator::Reserved | Operator::Fragment)
    }
}

/// RFC 6570 §2.1 `literals`, with erratum 6937 (the apostrophe, which the Go
/// library also accepts). `%` is handled separately as pct-encoded.
fn is_literal_char(c: char) -> bool {
    matches!(c,
        '!' | '#' | '$' | '&' | '\'' | '(' ..= ';' | '=' | '?' ..= '[' | ']' | '_'
        | 'a'..='z' | '~'
        | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{F8FF}' | '\u{F900}'..='\u{FDCF}'
        | '\u{FDF0}'..='\u{FFEF}')
        || is_supplementary_literal(c)
}

/// `ucschar` and `iprivate` above the basic multilingual plane: every plane
/// except its last two code points, and plane 14 only from U+E1000.
fn is_supplementary_literal(c: char) -> bool {
    let c = u32::from(c);
    if c < 0x1_0000 || (c & 0xFFFF) >= 0xFFFE {
        return false;
    }
    !(0xE_0000..0xE_1000).contains(&c)
}

fn is_varchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Checks a pct-encoded triplet starts at `pos`.
fn check_triplet(bytes: &[u8], pos: usize) -> Result<(), TemplateError> {
    match bytes.get(pos + 1..pos + 3) {
        Some([a, b]) if a.is_ascii_hexdigit() && b.is_ascii_hexdigit() => Ok(()),
        _ => Err(TemplateError::InvalidPctEncoding { position: pos }),
    }
}

fn parse_parts(template: &str) -> Result<Vec<Part<'_>>, TemplateError> {
    let bytes = template.as_bytes();
    let mut parts = Vec::new();
    let mut literal_start = 0;
    let mut pos = 0;
    while let Some(c) = template[pos..].chars().next() {
        match c {
            '{' => {
                if literal_start < pos {
                    parts.push(Part::Literal(&template[literal_start..pos]));
                }
                let (expression, end) = parse_expression(template, pos)?;
                parts.push(Part::Expression(expression));
                pos = end;
                literal_start = pos;
            }
            '%' => {
                check_triplet(bytes, pos)?;
                pos += 3;
            }
            c if is_literal_char(c) => pos += c.len_utf8(),
            c => {
                return Err(TemplateError::InvalidLiteral {
                    position: pos,
                    ch: c,
                });
            }
        }
    }
    if literal_start < pos {
        parts.push(Part::Literal(&template[literal_start..pos]));
    }
    Ok(parts)
}

/// Parses the expression whose `{` is at `open`; returns it with the
/// position just past its `}`.
fn parse_expression(template: &str, open: usize) -> Result<(Expression<'_>, usize), TemplateError> {
    let bytes = template.as_bytes();
    let unclosed = TemplateError::UnclosedExpression { position: open };
    let mut pos = open + 1;
    let op = match bytes.get(pos) {
        None => return Err(unclosed),
        Some(&b) => match Operator::from_char(char::from(b)) {
            Some(op) => {
                pos += 1;
                op
            }
            None if matches!(b, b'=' | b',' | b'!' | b'@' | b'|') => {
                return Err(TemplateError::ReservedOperator {
                    position: pos,
                    op: char::from(b),
                });
            }
            None => Operator::Simple,
        },
    };

    let mut vars = Vec::new();
    loop {
        // varname = varchar *( ["."] varchar ), varchar = ALPHA / DIGIT / "_" / pct-encoded
        let name_start = pos;
        let mut after_dot = true; // a name may not start with a dot
        loop {
            match bytes.get(pos) {
                Some(&b) if is_varchar(b) => {
                    after_dot = false;
                    pos += 1;
                }
                Some(b'%') => {
                    check_triplet(bytes, pos)?;
                    after_dot = false;
                    pos += 3;
                }
                Some(b'.') => {
                    if after_dot {
                        return Err(TemplateError::InvalidVarName {
                            position: pos,
                            reason: "a dot must be between two name characters",
                        });
                    }
                    after_dot = true;
                    pos += 1;
                }
                _ => break,
            }
        }
        if pos == name_start {
            return match template[pos..].chars().next() {
                None => Err(unclosed),
                Some(_) => Err(TemplateError::InvalidVarName {
                    position: pos,
                    reason: "expected a variable name (letters, digits, '_', '.', pct-encoded)",
                }),
            };
        }
        if after_dot {
            return Err(TemplateError::InvalidVarName {
                position: pos - 1,
                reason: "a name may not end with a dot",
            });
        }
        let name = &template[name_start..pos];

        let modifier = match bytes.get(pos) {
            Some(b'*') => {
                pos += 1;
                Modifier::Explode
            }
            Some(b':') => {
                pos += 1;
                let digits_start = pos;
                while bytes.get(pos).is_some_and(u8::is_ascii_digit) && pos - digits_start < 5 {
                    pos += 1;
                }
                // max-length = %x31-39 0*3DIGIT: no leading zero, below 10000.
                let digits = &template[digits_start..pos];
                match digits.parse::<u16>() {
                    Ok(n) if (1..=9999).contains(&n) && !digits.starts_with('0') => {
                        Modifier::Prefix(n)
                    }
                    _ => {
                        return Err(TemplateError::InvalidPrefix {
                            position: digits_start,
                        });
                    }
                }
            }
            _ => Modifier::None,
        };
        vars.push(VarSpec { name, modifier });

        match template[pos..].chars().next() {
            Some(',') => pos += 1,
            Some('}') => return Ok((Expression { op, vars }, pos + 1)),
            Some(ch) => return Err(TemplateError::UnexpectedChar { position: pos, ch }),
            None => return Err(unclosed),
        }
    }
}

/// Regex fragments. Classes list ASCII only: raw non-ASCII characters are
/// never part of a variable's expansion.
const UNRESERVED: &str = r"A-Za-z0-9\-._~";
const RESERVED: &str = r":/?#\[\]@!$&'()*+,;=";
const PCT: &str = "%[0-9A-Fa-f]{2}";
/// For prefix counting, one character of the unencoded value is an atom
/// followed by continuation-byte triplets (a pct-encoded UTF-8 sequence).
/// Allowing any number of continuations, rather than exactly the one to
/// three of valid UTF-8, accepts a few impossible strings but halves the
/// compiled size of each counted character.
const PCT_CONTINUATION: &str = "(?:%[89ABab][0-9A-Fa-f])*";

/// `(?:[<allowed><extra>]|%XX)`: one character of an expansion.
fn atom(op: Operator, extra: &str) -> String {
    let reserved = if op.allows_reserved() { RESERVED } else { "" };
    let mut extra_escaped = String::new();
    for c in extra.chars() {
        // Only ever ',', '=', '.', '/', ';', '&'; escape defensively.
        extra_escaped.push('\\');
        extra_escaped.push(c);
    }
    format!("(?:[{UNRESERVED}{reserved}{extra_escaped}]|{PCT})")
}

/// A regex accepting every expansion of one defined variable, without the
/// operator's `first` or `sep` prefix.
fn var_regex(op: Operator, var: &VarSpec<'_>) -> String {
    let name = regex::escape(var.name);
    let sep = regex::escape(&op.sep().to_string());
    match var.modifier {
        Modifier::Explode => {
            // Items joined by `sep`; associative arrays give `key=value`
            // items. Go writes `key,` for an empty value of an unnamed
            // exploded pair, so `,` is accepted too.
            if op.named() {
                let key = atom(op, "");
                let value = atom(op, ",");
                let item = if op.equals_if_empty() {
                    format!("{key}*={value}*")
                } else {
                    format!("{key}*(?:={value}*)?")
                };
                format!("{item}(?:{sep}{item})*")
            } else {
                let extra = format!("=,{}", op.sep());
                format!("{}*", atom(op, &extra))
            }
        }
        Modifier::Prefix(n) => {
            // Prefixes apply to string values only (RFC 6570 §2.4.1), so no
            // ',' from composite values.
            let unit = format!("(?:{}{PCT_CONTINUATION})", atom(op, ""));
            let value = if n > MAX_ENFORCED_PREFIX {
                format!("{unit}*")
            } else {
                format!("{unit}{{0,{n}}}")
            };
            named_or_not(op, &name, &value)
        }
        Modifier::None => {
            let value = format!("{}*", atom(op, ","));
            named_or_not(op, &name, &value)
        }
    }
}

fn named_or_not(op: Operator, name: &str, value: &str) -> String {
    if !op.named() {
        value.to_owned()
    } else if op.equals_if_empty() {
        format!("{name}={value}")
    } else {
        format!("{name}(?:={value})?")
    }
}

/// The expansion of an expression is its defined variables, in order, joined
/// by `sep` and prefixed by `first`; any subset may be undefined. For the
/// variables i..n, a non-empty ordered subset is
/// `N(i) = (?:(?:P(i) sep)? N(i+1) | P(i))`, `N(n) = P(n)`, which keeps the
/// regex linear in the number of variables (listing each starting variable
/// would be quadratic, a plain alternation exponential).
fn expression_regex(expr: &Expression<'_>) -> String {
    let sep = regex::escape(&expr.op.sep().to_string());
    let mut subsets: Option<String> = None;
    for var in expr.vars.iter().rev() {
        let p = var_regex(expr.op, var);
        subsets = Some(match subsets {
            None => format!("(?:{p})"),
            Some(rest) => format!("(?:(?:{p}{sep})?{rest}|{p})"),
        });
    }
    let body = subsets.unwrap_or_default();
    format!("(?:{}{body})?", regex::escape(expr.op.first()))
}

fn to_regex(parts: &[Part<'_>]) -> String {
    let mut pattern = String::from("^");
    for part in parts {
        match part {
            Part::Literal(text) => pattern.push_str(&regex::escape(text)),
            Part::Expression(expr) => pattern.push_str(&expression_regex(expr)),
        }
    }
    pattern.push('$');
    pattern
}

#[cfg(test)]
mod tests;
