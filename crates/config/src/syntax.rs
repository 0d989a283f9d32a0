//! The Caddyfile subset the `mercure` directives are written in.
//!
//! Faithful to Caddy's lexer where it matters for real configurations:
//! * `{$NAME}` / `{$NAME:default}` are substituted in the raw text *before* tokenizing (one
//!   level, no re-scan), so a variable may hold several tokens or whole lines of directives;
//! * tokens are separated by whitespace; a newline ends a directive, `\` at the end of a
//!   line continues it;
//! * `#` starts a comment only at the start of a token (`a#b` is one token);
//! * `"..."` strings may span lines; inside them `\"` is a quote, `\` + newline is a newline
//!   and any other backslash is kept verbatim; a quote in the middle of a token is literal;
//! * `` `...` `` strings are raw and may span lines;
//! * a `{` ending a line opens a block, a `}` alone on a line closes it.
//!
//! Line numbers always refer to the text as written (a substituted variable containing
//! newlines does not shift the lines that follow it).

use crate::error::ConfigError;

/// One lexical token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub text: String,
    /// 1-based line where the token starts, in the original text.
    pub line: usize,
    /// Quoted tokens are never braces nor comments.
    pub quoted: bool,
    /// Tokens with the same value belong to the same directive line.
    logical_line: usize,
}

impl Token {
    fn is(&self, s: &str) -> bool {
        !self.quoted && self.text == s
    }
}

/// A directive with its arguments and optional block of sub-directives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Node {
    pub name: Token,
    pub args: Vec<Token>,
    pub block: Option<Vec<Node>>,
}

/// Tokenizes `text` (after `{$VAR}` substitution) and groups it into directives and blocks.
pub(crate) fn parse(
    origin: &str,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<Node>, ConfigError> {
    let chars = substitute_env_vars(text, env);
    let tokens = tokenize(origin, &chars)?;
    let lines = group_lines(tokens);
    let mut index = 0;
    parse_block(origin, &lines, &mut index, None)
}

/// Caddy's parse-time `{$NAME[:default]}` substitution. Each output char carries the line
/// of the input it comes from; substituted text takes the line of its placeholder.
fn substitute_env_vars(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Vec<(char, usize)> {
    let mut out = Vec::with_capacity(text.len());
    let mut line = 1;
    let copy = |s: &str, line: &mut usize, out: &mut Vec<(char, usize)>| {
        for c in s.chars() {
            out.push((c, *line));
            if c == '\n' {
                *line += 1;
            }
        }
    };
    let mut rest = text;
    while let Some(start) = rest.find("{$") {
        let after = &rest[start + 2..];
        // Like Caddy: an opening without a closing brace is left alone.
        let Some(end) = after.find('}') else { break };
        let spec = &after[..end];
        // An empty name is left alone (as in Caddy). A name spanning lines is too: Caddy
        // would swallow everything up to the next `}`, which is never what was meant.
        if spec.is_empty() || spec.contains('\n') {
            copy(&rest[..start + 2], &mut line, &mut out);
            rest = after;
            continue;
        }
        copy(&rest[..start], &mut line, &mut out);
        let (name, default) = match spec.split_once(':') {
            Some((name, default)) => (name, Some(default)),
            None => (spec, None),
        };
        // A variable that is set (even to "") wins over the default, as with Go's LookupEnv.
        let value = env(name)
            .or_else(|| default.map(str::to_owned))
            .unwrap_or_default();
        out.extend(value.chars().map(|c| (c, line)));
        rest = &after[end + 1..];
    }
    copy(rest, &mut line, &mut out);
    out
}

/// Index just past a `\` + (`\r`) + `\n` line continuation starting at `i`, if there is one.
fn continuation_end(chars: &[(char, usize)], i: usize) -> Option<usize> {
    if chars.get(i)?.0 != '\\' {
        return None;
    }
    match chars.get(i + 1)?.0 {
        '\n' => Some(i + 2),
        '\r' if chars.get(i + 2)?.0 == '\n' => Some(i + 3),
        _ => None,
    }
}

fn tokenize(origin: &str, chars: &[(char, usize)]) -> Result<Vec<Token>, ConfigError> {
    let mut tokens = Vec::new();
    let mut logical_line = 0;
    let mut i = 0;
    while let Some(&(c, line)) = chars.get(i) {
        if c == '\n' {
            logical_line += 1;
            i += 1;
        } else if let Some(next) = continuation_end(chars, i) {
            i = next;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '#' {
            while chars.get(i).is_some_and(|&(c, _)| c != '\n') {
                i += 1;
            }
        } else if c == '"' || c == '`' {
            let mut text = String::new();
            i += 1;
            loop {
                let Some(&(c2, _)) = chars.get(i) else {
                    let what = if c == '"' {
                        "quoted string"
                    } else {
                        "backtick string"
                    };
                    return Err(ConfigError::Syntax {
                        origin: origin.to_owned(),
                        line,
                        reason: format!("unterminated {what} (missing closing {c})"),
                    });
                };
                i += 1;
                if c2 == c {
                    break;
                }
                if c == '"' && c2 == '\\' {
                    match chars.get(i).map(|&(c3, _)| c3) {
                        Some('"') | Some('\n') => {}
                        _ => text.push('\\'),
                    }
                    if let Some(&(c3, _)) = chars.get(i) {
                        text.push(c3);
                        i += 1;
                    }
                    continue;
                }
                text.push(c2);
            }
            tokens.push(Token {
                text,
                line,
                quoted: true,
                logical_line,
            });
        } else {
            let mut text = String::new();
            while let Some(&(c2, _)) = chars.get(i) {
                if c2.is_whitespace() || continuation_end(chars, i).is_some() {
                    break;
                }
                text.push(c2);
                i += 1;
            }
            tokens.push(Token {
                text,
                line,
                quoted: false,
                logical_line,
            });
        }
    }
    Ok(tokens)
}

fn group_lines(tokens: Vec<Token>) -> Vec<Vec<Token>> {
    let mut lines: Vec<Vec<Token>> = Vec::new();
    for token in tokens {
        match lines.last_mut() {
            Some(last) if last[0].logical_line == token.logical_line => last.push(token),
            _ => lines.push(vec![token]),
        }
    }
    lines
}

fn parse_block(
    origin: &str,
    lines: &[Vec<Token>],
    index: &mut usize,
    opened_at: Option<usize>,
) -> Result<Vec<Node>, ConfigError> {
    let syntax = |line: usize, reason: String| ConfigError::Syntax {
        origin: origin.to_owned(),
        line,
        reason,
    };
    let mut nodes = Vec::new();
    loop {
        let Some(line) = lines.get(*index) else {
            return match opened_at {
                Some(open) => Err(syntax(
                    open,
                    "unterminated block: this '{' has no matching '}'".to_owned(),
                )),
                None => Ok(nodes),
            };
        };
        *index += 1;
        let (first, rest) = match line.split_first() {
            Some(split) => split,
            None => continue,
        };
        if first.is("}") {
            if opened_at.is_none() {
                return Err(syntax(
                    first.line,
                    "unexpected '}': no block is open".to_owned(),
                ));
            }
            if let Some(extra) = rest.first() {
                return Err(syntax(
                    extra.line,
                    format!(
                        "unexpected {:?} after '}}': a '}}' must be alone on its line",
                        extra.text
                    ),
                ));
            }
            return Ok(nodes);
        }
        if first.is("{") {
            return Err(syntax(
                first.line,
                "unexpected '{': a block must be opened at the end of its directive's line"
                    .to_owned(),
            ));
        }
        let mut args: Vec<Token> = rest.to_vec();
        let block = match args.last() {
            Some(last) if last.is("{") => {
                let open_line = last.line;
                args.pop();
                Some(parse_block(origin, lines, index, Some(open_line))?)
            }
            // `transport local {}`: an empty block written on one line.
            Some(last) if last.is("{}") => {
                args.pop();
                Some(Vec::new())
            }
            _ => None,
        };
        if let Some(brace) = args.iter().find(|t| t.is("{") || t.is("}")) {
            return Err(syntax(
                brace.line,
                format!(
                    "unexpected '{}' in the arguments of {:?}: a '{{' must end the line and a '}}' must be alone on its line",
                    brace.text, first.text
                ),
            ));
        }
        nodes.push(Node {
            name: first.clone(),
            args,
            block,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "FOO" => Some("foo".to_owned()),
            "EMPTY" => Some(String::new()),
            "MULTI" => Some("anonymous\nsubscriptions".to_owned()),
            "SPACED" => Some("a b".to_owned()),
            _ => None,
        }
    }

    fn parse_ok(text: &str) -> Vec<Node> {
        match parse("test", text, &env) {
            Ok(nodes) => nodes,
            Err(e) => panic!("{text:?} should parse: {e}"),
        }
    }

    fn parse_err(text: &str) -> String {
        match parse("test", text, &env) {
            Ok(nodes) => panic!("{text:?} should fail, got {nodes:?}"),
            Err(e) => e.to_string(),
        }
    }

    /// (name, args, line) of each top-level node.
    fn flat(nodes: &[Node]) -> Vec<(String, Vec<String>, usize)> {
        nodes
            .iter()
            .map(|n| {
                (
                    n.name.text.clone(),
                    n.args.iter().map(|a| a.text.clone()).collect(),
                    n.name.line,
                )
            })
            .collect()
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn directives_and_lines() {
        let nodes = parse_ok("\n  heartbeat 40s\n\ncors_origins a b\t c\r\nanonymous\n");
        assert_eq!(
            flat(&nodes),
            vec![
                ("heartbeat".into(), s(&["40s"]), 2),
                ("cors_origins".into(), s(&["a", "b", "c"]), 4),
                ("anonymous".into(), vec![], 5),
            ]
        );
        assert!(parse_ok("").is_empty());
        assert!(parse_ok("  \n\n # only a comment\n").is_empty());
    }

    #[test]
    fn comments() {
        let nodes = parse_ok("# c1\nname a#b # trailing\n  # indented\nanonymous");
        assert_eq!(
            flat(&nodes),
            vec![
                ("name".into(), s(&["a#b"]), 2),
                ("anonymous".into(), vec![], 4)
            ]
        );
        // `#` inside quotes is not a comment.
        let nodes = parse_ok("name \"a # b\"");
        assert_eq!(nodes[0].args[0].text, "a # b");
    }

    #[test]
    fn double_quotes() {
        let nodes = parse_ok(r#"name "a b" "say \"hi\"" "back\slash" "x\\y" """#);
        assert_eq!(
            nodes[0]
                .args
                .iter()
                .map(|t| t.text.as_str())
                .collect::<Vec<_>>(),
            vec!["a b", "say \"hi\"", "back\\slash", "x\\\\y", ""]
        );
        assert!(nodes[0].args.iter().all(|t| t.quoted));
        // A quote in the middle of a token is literal; a closing quote ends the token.
        let nodes = parse_ok(r#"name a"b "c"d"#);
        assert_eq!(
            nodes[0]
                .args
                .iter()
                .map(|t| t.text.as_str())
                .collect::<Vec<_>>(),
            vec!["a\"b", "c", "d"]
        );
    }

    #[test]
    fn multiline_strings_keep_line_numbers() {
        let nodes = parse_ok(
            "publisher_jwt \"-----BEGIN\nX\n-----END\" RS256\nanonymous\nname `raw\n\\\"x\"`\nsubscriptions",
        );
        assert_eq!(nodes.len(), 4);
        assert_eq!(nodes[0].args[0].text, "-----BEGIN\nX\n-----END");
        assert_eq!(nodes[0].args[1].text, "RS256");
        assert_eq!(nodes[1].name.line, 4);
        assert_eq!(nodes[2].args[0].text, "raw\n\\\"x\"");
        assert_eq!(nodes[3].name.line, 7);
        // Escaped newline inside double quotes.
        let nodes = parse_ok("name \"a\\\nb\"");
        assert_eq!(nodes[0].args[0].text, "a\nb");
    }

    #[test]
    fn line_continuation() {
        let nodes = parse_ok("cors_origins a \\\n  b\\\r\n c\nanonymous");
        assert_eq!(
            flat(&nodes),
            vec![
                ("cors_origins".into(), s(&["a", "b", "c"]), 1),
                ("anonymous".into(), vec![], 4)
            ]
        );
        // A backslash elsewhere is literal.
        let nodes = parse_ok(r"name a\b");
        assert_eq!(nodes[0].args[0].text, r"a\b");
    }

    #[test]
    fn blocks() {
        let nodes = parse_ok(
            "mercure {\n  transport bolt {\n    path /x.db\n    gob\n  }\n  anonymous\n}\n",
        );
        assert_eq!(nodes.len(), 1);
        let inner = nodes[0].block.as_ref().unwrap();
        assert_eq!(inner.len(), 2);
        assert_eq!(inner[0].args[0].text, "bolt");
        let opts = inner[0].block.as_ref().unwrap();
        assert_eq!(
            flat(opts),
            vec![("path".into(), s(&["/x.db"]), 3), ("gob".into(), vec![], 4)]
        );
        let nodes = parse_ok("transport local {}\ntransport local {\n}");
        assert_eq!(nodes[0].block, Some(vec![]));
        assert_eq!(nodes[1].block, Some(vec![]));
        // A quoted brace is an ordinary argument.
        let nodes = parse_ok("name \"{\"");
        assert_eq!(nodes[0].args[0].text, "{");
        assert!(nodes[0].block.is_none());
    }

    #[test]
    fn syntax_errors() {
        assert_eq!(
            parse_err("anonymous\nname \"abc\n\n"),
            "test:2: unterminated quoted string (missing closing \")"
        );
        assert_eq!(
            parse_err("\nname `abc"),
            "test:2: unterminated backtick string (missing closing `)"
        );
        assert_eq!(
            parse_err("a\ntransport bolt {\n path x\n"),
            "test:2: unterminated block: this '{' has no matching '}'"
        );
        assert_eq!(
            parse_err("anonymous\n}\n"),
            "test:2: unexpected '}': no block is open"
        );
        assert!(
            parse_err("mercure {\n} anonymous\n")
                .starts_with("test:2: unexpected \"anonymous\" after '}'")
        );
        assert!(parse_err("mercure\n{\n}").starts_with("test:2: unexpected '{'"));
        assert!(
            parse_err("\n\nname { x")
                .starts_with("test:3: unexpected '{' in the arguments of \"name\"")
        );
        assert!(parse_err("name x }").starts_with("test:1: unexpected '}' in the arguments"));
    }

    #[test]
    fn env_placeholders() {
        let nodes = parse_ok(
            "name {$FOO}\nname {$UNSET:def}\nname x{$UNSET}y\nname \"{$EMPTY:def}\"\nname {$FOO:def}",
        );
        let names: Vec<_> = nodes.iter().map(|n| n.args[0].text.clone()).collect();
        assert_eq!(names, s(&["foo", "def", "xy", "", "foo"]));
        // `{$UNSET}` alone leaves no token at all.
        let nodes = parse_ok("cors_origins {$UNSET} a");
        assert_eq!(nodes[0].args.len(), 1);
        // Substitution may produce several tokens and lines, without shifting line numbers.
        let nodes = parse_ok("{$MULTI}\nname {$SPACED}\nheartbeat 1s");
        assert_eq!(
            flat(&nodes),
            vec![
                ("anonymous".into(), vec![], 1),
                ("subscriptions".into(), vec![], 1),
                ("name".into(), s(&["a", "b"]), 2),
                ("heartbeat".into(), s(&["1s"]), 3),
            ]
        );
        // Unterminated or empty placeholders stay literal; `{env.X}` is not handled here.
        let nodes = parse_ok("name {$}\nname {$FOO\nname {env.FOO}");
        let names: Vec<_> = nodes.iter().map(|n| n.args[0].text.clone()).collect();
        assert_eq!(names, s(&["{$}", "{$FOO", "{env.FOO}"]));
        // No re-scan of substituted values (one level, as in Caddy).
        let nested = |name: &str| (name == "A").then(|| "{$FOO}".to_owned());
        let nodes = parse("t", "name {$A}", &nested).unwrap();
        assert_eq!(nodes[0].args[0].text, "{$FOO}");
    }
}
