//! Unit tests: a table of match expectations, parse errors, and a
//! round-trip property (every RFC 6570 expansion of a template matches it)
//! checked with a small test-only expander over pseudo-random templates and
//! values. A hand-rolled PRNG keeps the crate free of extra dependencies.

use super::*;

fn matches(template: &str, topic: &str) -> bool {
    UriTemplate::parse(template)
        .unwrap_or_else(|err| panic!("{template:?} should parse: {err}"))
        .is_match(topic)
}

#[test]
fn match_table() {
    let cases: &[(&str, &str, bool)] = &[
        // Reference hub tests (topicselector_test.go, subscriber_test.go,
        // subscription_test.go).
        (
            "https://example.com/{foo}/bar",
            "https://example.com/foo/bar",
            true,
        ),
        (
            "https://example.com/{foo}/bar",
            "https://example.com/foo/bar/baz",
            false,
        ),
        (
            "https://example.com/{fistname}/{lastname}",
            "https://example.com/kevin/dunglas",
            true,
        ),
        ("https://example.com/{x}", "https://example.com/a", true),
        ("https://example.com/{x}", "https://other.com/a", false),
        (
            "https://example.com/books/{id}",
            "https://example.com/books/1",
            true,
        ),
        (
            "https://example.com/books/{id}",
            "https://example.com/not-subscribed",
            false,
        ),
        (
            "https://example.com/users/foo/{?topic}",
            "https://example.com/users/foo/?topic=https%3A%2F%2Fexample.com%2Fbooks%2F1",
            true,
        ),
        (
            "https://example.com/users/foo/{?topic}",
            "https://example.com/users/bar/?topic=https%3A%2F%2Fexample.com%2Fbooks%2F1",
            false,
        ),
        (
            "/.well-known/mercure/subscriptions/foo{/subscriber}",
            "/.well-known/mercure/subscriptions/bar",
            false,
        ),
        (
            "/.well-known/mercure/subscriptions/foo{/subscriber}",
            "/.well-known/mercure/subscriptions/foo/bar",
            true,
        ),
        (
            "/.well-known/mercure/subscriptions/foo{/subscriber}",
            "/.well-known/mercure/subscriptions/foo/bar/baz",
            false,
        ),
        (
            "/.well-known/mercure/subscriptions/foo{/subscriber}",
            "/.well-known/mercure/subscriptions/foo",
            true,
        ),
        (
            "/.well-known/mercure/subscriptions{/topic}{/subscriber}",
            "/.well-known/mercure/subscriptions",
            true,
        ),
        (
            "/.well-known/mercure/subscriptions{/topic}{/subscriber}",
            "/.well-known/mercure/subscriptions/https%3A%2F%2Fexample.com%2Ffoo/urn%3Auuid%3A1234",
            true,
        ),
        (
            "/.well-known/mercure/subscriptions{/topic}{/subscriber}",
            "/.well-known/mercure/subscriptions/a/b/c",
            false,
        ),
        (
            "/.well-known/mercure/subscriptions{/topic}{/subscriber}",
            "/.well-known/mercure/subscriptions/https://example.com/foo/1",
            false,
        ),
        (
            "/.well-known/mercure/subscriptions/{topic}/{subscriber}",
            "/.well-known/mercure/subscriptions/a/b",
            true,
        ),
        // Simple expansion: unreserved and pct-encoded only.
        (
            "https://example.com/books/{id}",
            "https://example.com/books/",
            true,
        ),
        (
            "https://example.com/books/{id}",
            "https://example.com/books/1/2",
            false,
        ),
        (
            "https://example.com/books/{id}",
            "https://example.com/books/a-b.c_d~e",
            true,
        ),
        (
            "https://example.com/books/{id}",
            "https://example.com/books/a,b",
            true,
        ), // a list
        (
            "https://example.com/books/{id}",
            "https://example.com/books/a%2Fb",
            true,
        ),
        (
            "https://example.com/books/{id}",
            "https://example.com/books/a%2fb",
            true,
        ),
        (
            "https://example.com/books/{id}",
            "https://example.com/books/a%2",
            false,
        ),
        (
            "https://example.com/books/{id}",
            "https://example.com/books/a%zz",
            false,
        ),
        (
            "https://example.com/books/{id}",
            "https://example.com/books/a=b",
            false,
        ),
        (
            "https://example.com/books/{id}",
            "https://example.com/books/a?b",
            false,
        ),
        (
            "https://example.com/books/{id}",
            "https://example.com/books/a b",
            false,
        ),
        (
            "https://example.com/books/{id}",
            "https://example.com/books/1\n",
            false,
        ),
        // Unicode in topics: raw non-ASCII is never an expansion (Go agrees).
        (
            "https://example.com/books/{id}",
            "https://example.com/books/é",
            false,
        ),
        (
            "https://example.com/books/{id}",
            "https://example.com/books/%C3%A9",
            true,
        ),
        (
            "https://example.com/{+path}",
            "https://example.com/é",
            false,
        ),
        // Reserved expansion.
        (
            "https://example.com/{+path}",
            "https://example.com/books/1",
            true,
        ),
        (
            "https://example.com/{+path}",
            "https://example.com/a/b?c=d&e=f#g",
            true,
        ),
        ("https://example.com/{+path}", "https://example.com/", true),
        (
            "https://example.com/{+path}",
            "https://example.com/a b",
            false,
        ),
        ("https://example.com/{+path}", "https://other.com/a", false),
        ("{+x,y}", "a/b,c/d", true),
        (
            "{scheme}://{+host}/demo/books/{id}.jsonld",
            "https://example.com/demo/books/1.jsonld",
            true,
        ),
        (
            "{scheme}://{+host}/demo/books/{id}.jsonld",
            "https://example.com:8080/demo/books/1.jsonld",
            true,
        ),
        (
            "{scheme}://{+host}/demo/books/{id}.jsonld",
            "http://localhost/demo/books/1.2.jsonld",
            true,
        ),
        (
            "{scheme}://{+host}/demo/books/{id}.jsonld",
            "https://example.com/demo/books/1.json",
            false,
        ),
        (
            "{scheme}://{+host}/demo/books/{id}.jsonld",
            "https://example.com/demo/books/1/2.jsonld",
            false,
        ),
        (
            "{scheme}://{+host}/demo/books/{id}.jsonld",
            "ht/tps://example.com/demo/books/1.jsonld",
            false,
        ),
        // Fragment expansion.
        ("{#frag}", "#a/b?c", true),
        ("{#frag}", "", true),
        ("{#frag}", "#", true),
        ("{#frag}", "a", false),
        (
            "https://example.com/page{#x,y}",
            "https://example.com/page#a,b",
            true,
        ),
        (
            "https://example.com/page{#x,y}",
            "https://example.com/page",
            true,
        ),
        // Label expansion.
        ("www{.dom*}", "www.example.com", true),
        ("X{.x}", "X.a.b", true), // '.' is unreserved
        ("X{.x}", "X", true),
        ("X{.x}", "Xa", false),
        ("X{.x,y}", "X.1.2", true),
        ("X{.x}", "X./", false),
        // Path segments.
        ("{/list*}", "/a/b/c", true),
        ("{/list*}", "/a", true),
        ("{/list*}", "", true),
        ("{/list*}", "/a=1/b=2", true), // associative array
        ("{/list*}", "a/b", false),
        ("{/list}", "/a/b", false),
        ("{/list}", "/a,b", true),
        ("{/x,y}", "/1/2", true),
        ("{/x,y}", "/1/2/3", false),
        ("{/x,y*}", "/1/2/3", true),
        ("{/x:1}", "/a", true),
        ("{/x:1}", "/ab", false),
        // Path-style parameters.
        ("{;x,y}", ";x=1;y=2", true),
        ("{;x,y}", ";x", true), // x = ""
        ("{;x,y}", ";y=2", true),
        ("{;x,y}", ";x;y", true),
        ("{;x,y}", "", true),
        ("{;x,y}", ";y=2;x=1", false), // order is fixed
        ("{;x,y}", ";z=1", false),     // deviation: Go accepts any name
        ("{;x,y}", ";x=1;y=2;x=3", false),
        ("{;x,y}", ";x=a,b", true),
        ("{;list*}", ";list=a;list=b", true),
        ("{;keys*}", ";a=1;b;c=3", true),
        // Query and continuation.
        ("{?x,y}", "", true),
        ("{?x,y}", "?x=1", true),
        ("{?x,y}", "?y=2", true),
        ("{?x,y}", "?x=1&y=2", true),
        ("{?x,y}", "?y=2&x=1", false),
        ("{?x,y}", "?x=", true), // x = ""
        ("{?x,y}", "?x", false), // '?' writes "x=" for empty values
        ("{?x,y}", "?", false),
        ("{?x,y}", "?&y=2", false),
        ("{?x,y}", "x=1", false),
        ("{?x,y}", "?x=a=b", false), // '=' in a value is encoded; Go accepts
        ("{?x,y}", "?x=a%3Db", true),
        ("{?x,y}", "?z=1", false), // deviation: Go accepts any name
        (
            "https://example.com/users/{user}{?page,size}",
            "https://example.com/users/1",
            true,
        ),
        (
            "https://example.com/users/{user}{?page,size}",
            "https://example.com/users/1?page=2",
            true,
        ),
        (
            "https://example.com/users/{user}{?page,size}",
            "https://example.com/users/1?size=10",
            true,
        ),
        (
            "https://example.com/users/{user}{?page,size}",
            "https://example.com/users/1?page=2&size=10",
            true,
        ),
        (
            "https://example.com/users/{user}{?page,size}",
            "https://example.com/users/1?page=1,2",
            true,
        ),
        (
            "https://example.com/users/{user}{?page,size}",
            "https://example.com/users/1?page=1&page=2",
            false,
        ),
        (
            "https://example.com/users/{user}{?page,size}",
            "https://example.com/users/?page=2",
            true,
        ),
        (
            "https://example.com/users/{user}{?page,size}",
            "https://example.com/users/1/2?page=2",
            false,
        ),
        ("{?list*}", "?list=a&list=b", true),
        ("{?keys*}", "?a=1&b=2", true),
        ("{?keys*}", "?a&b", false),
        ("{?x}{&y}", "?x=1&y=2", true),
        ("{?x}{&y}", "&y=2", true),
        ("{&x,y}", "&x=1&y=2", true),
        ("{&x,y}", "&y=", true),
        ("{?a.b,c%20d}", "?a.b=1&c%20d=2", true),
        ("{?a.b,c%20d}", "?aXb=1", false),
        // Prefix: characters, a pct-encoded character counts as one.
        ("{var:3}", "abc", true),
        ("{var:3}", "ab", true),
        ("{var:3}", "", true),
        ("{var:3}", "abcd", false),
        ("{var:3}", "a,b", false), // prefixes apply to strings only
        ("{var:3}", "%C3%A9ab", true),
        ("{var:3}", "%C3%A9%E2%82%AC%F0%9F%98%80", true),
        ("{var:3}", "%C3%A9%C3%A9%C3%A9a", false),
        ("{var:3}", "%20%20%20", true),
        ("{var:3}", "%20%20%20%20", false),
        ("{+var:3}", "a/b", true),
        ("{+var:3}", "a/bc", false),
        ("{?var:3}", "?var=abc", true),
        ("{?var:3}", "?var=abcd", false),
        ("{;var:3}", ";var", true),
        (
            "https://example.com/dictionary/{term:1}/{term}",
            "https://example.com/dictionary/c/cat",
            true,
        ),
        (
            "https://example.com/dictionary/{term:1}/{term}",
            "https://example.com/dictionary/ca/cat",
            false,
        ),
        ("{x:9999}", &"a".repeat(20_000), true), // above MAX_ENFORCED_PREFIX: unbounded
        // Several variables in a simple expression.
        ("{x,y}", "1,2", true),
        ("{x,y}", "1", true),
        ("{x,y}", "", true),
        ("{x,y}", "1,2,3", true), // lists contribute commas
        ("{x,y}", "1/2", false),
        ("{x,y*}", "1,a=2,b=3", true),
        // Literals are literal: regex metacharacters are escaped.
        (
            "https://example.com/a.b/{x}",
            "https://example.com/aXb/1",
            false,
        ),
        (
            "https://example.com/a.b/{x}",
            "https://example.com/a.b/1",
            true,
        ),
        (
            "https://example.com/{x}?q=1",
            "https://example.com/1?q=1",
            true,
        ),
        (
            "https://example.com/{x}?q=1",
            "https://example.com/1q=1",
            false,
        ),
        (
            "https://example.com/(a)*+$[b]/{x}",
            "https://example.com/(a)*+$[b]/1",
            true,
        ),
        (
            "https://example.com/(a)*+$[b]/{x}",
            "https://example.com/a/1",
            false,
        ),
        (
            "https://example.com/(a)*+$[b]/{x}",
            "https://example.com/(a)))*+$[b]/1",
            false,
        ),
        // Pct-encoded literals match as written.
        (
            "https://example.com/caf%C3%A9/{x}",
            "https://example.com/caf%C3%A9/1",
            true,
        ),
        (
            "https://example.com/caf%C3%A9/{x}",
            "https://example.com/café/1",
            false,
        ),
        (
            "https://example.com/caf%C3%A9/{x}",
            "https://example.com/caf%c3%a9/1",
            false,
        ),
        // Non-ASCII literals (IRIs) are allowed and match themselves.
        (
            "https://example.com/café/{x}",
            "https://example.com/café/1",
            true,
        ),
        (
            "https://example.com/café/{x}",
            "https://example.com/cafe/1",
            false,
        ),
        (
            "https://example.com/😀/{x}",
            "https://example.com/😀/1",
            true,
        ),
        // Templates without expressions match only themselves.
        ("https://example.com/", "https://example.com/", true),
        ("https://example.com/", "https://example.com", false),
        ("", "", true),
        ("", "a", false),
    ];
    let mut failures = Vec::new();
    for &(template, topic, expected) in cases {
        if matches(template, topic) != expected {
            failures.push(format!("{template:?} vs {topic:?}: expected {expected}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn parse_errors() {
    let cases: &[(&str, TemplateError)] = &[
        ("{", TemplateError::UnclosedExpression { position: 0 }),
        ("a{x", TemplateError::UnclosedExpression { position: 1 }),
        ("{x,", TemplateError::UnclosedExpression { position: 0 }),
        ("{x:3", TemplateError::UnclosedExpression { position: 0 }),
        ("{+", TemplateError::UnclosedExpression { position: 0 }),
        (
            "x}",
            TemplateError::InvalidLiteral {
                position: 1,
                ch: '}',
            },
        ),
        (
            "{x}}",
            TemplateError::InvalidLiteral {
                position: 3,
                ch: '}',
            },
        ),
        (
            "a b{x}",
            TemplateError::InvalidLiteral {
                position: 1,
                ch: ' ',
            },
        ),
        (
            "^{x}$",
            TemplateError::InvalidLiteral {
                position: 0,
                ch: '^',
            },
        ),
        (
            "{x}<",
            TemplateError::InvalidLiteral {
                position: 3,
                ch: '<',
            },
        ),
        (
            "{x}\\",
            TemplateError::InvalidLiteral {
                position: 3,
                ch: '\\',
            },
        ),
        (
            "{x}|",
            TemplateError::InvalidLiteral {
                position: 3,
                ch: '|',
            },
        ),
        (
            "{x}\u{FFFD}",
            TemplateError::InvalidLiteral {
                position: 3,
                ch: '\u{FFFD}',
            },
        ),
        (
            "{x}\n",
            TemplateError::InvalidLiteral {
                position: 3,
                ch: '\n',
            },
        ),
        ("{x}%", TemplateError::InvalidPctEncoding { position: 3 }),
        ("{x}%2", TemplateError::InvalidPctEncoding { position: 3 }),
        ("{x}%zz", TemplateError::InvalidPctEncoding { position: 3 }),
        ("{%2}", TemplateError::InvalidPctEncoding { position: 1 }),
        (
            "{}",
            TemplateError::InvalidVarName {
                position: 1,
                reason: "",
            },
        ),
        (
            "{x,}",
            TemplateError::InvalidVarName {
                position: 3,
                reason: "",
            },
        ),
        (
            "{,x}",
            TemplateError::ReservedOperator {
                position: 1,
                op: ',',
            },
        ),
        (
            "{=x}",
            TemplateError::ReservedOperator {
                position: 1,
                op: '=',
            },
        ),
        (
            "{!x}",
            TemplateError::ReservedOperator {
                position: 1,
                op: '!',
            },
        ),
        (
            "{@x}",
            TemplateError::ReservedOperator {
                position: 1,
                op: '@',
            },
        ),
        (
            "{|x}",
            TemplateError::ReservedOperator {
                position: 1,
                op: '|',
            },
        ),
        (
            "{.}",
            TemplateError::InvalidVarName {
                position: 2,
                reason: "",
            },
        ),
        (
            "{..x}",
            TemplateError::InvalidVarName {
                position: 2,
                reason: "",
            },
        ),
        (
            "{x.}",
            TemplateError::InvalidVarName {
                position: 2,
                reason: "",
            },
        ),
        (
            "{x..y}",
            TemplateError::InvalidVarName {
                position: 3,
                reason: "",
            },
        ),
        (
            "{{x}}",
            TemplateError::InvalidVarName {
                position: 1,
                reason: "",
            },
        ),
        (
            "{é}",
            TemplateError::InvalidVarName {
                position: 1,
                reason: "",
            },
        ),
        (
            "{x y}",
            TemplateError::UnexpectedChar {
                position: 2,
                ch: ' ',
            },
        ),
        (
            "{x-y}",
            TemplateError::UnexpectedChar {
                position: 2,
                ch: '-',
            },
        ),
        (
            "{?x&y}",
            TemplateError::UnexpectedChar {
                position: 3,
                ch: '&',
            },
        ),
        (
            "{x:3*}",
            TemplateError::UnexpectedChar {
                position: 4,
                ch: '*',
            },
        ),
        (
            "{x*:3}",
            TemplateError::UnexpectedChar {
                position: 3,
                ch: ':',
            },
        ),
        (
            "{x**}",
            TemplateError::UnexpectedChar {
                position: 3,
                ch: '*',
            },
        ),
        ("{x:é}", TemplateError::InvalidPrefix { position: 3 }),
        ("{x:}", TemplateError::InvalidPrefix { position: 3 }),
        ("{x:0}", TemplateError::InvalidPrefix { position: 3 }),
        ("{x:01}", TemplateError::InvalidPrefix { position: 3 }),
        ("{x:10000}", TemplateError::InvalidPrefix { position: 3 }),
        (
            "{x:99999999999999999999}",
            TemplateError::InvalidPrefix { position: 3 },
        ),
    ];
    for (template, expected) in cases {
        match UriTemplate::parse(template) {
            Ok(_) => panic!("{template:?} should not parse"),
            Err(err) => {
                // Reasons are prose: compare the variant and position only.
                let normalise = |e: &TemplateError| match e {
                    TemplateError::InvalidVarName { position, .. } => {
                        TemplateError::InvalidVarName {
                            position: *position,
                            reason: "",
                        }
                    }
                    other => other.clone(),
                };
                assert_eq!(normalise(&err), *expected, "{template:?}: {err}");
                assert!(err.to_string().contains("byte"), "{err}");
            }
        }
    }
}

#[test]
fn valid_edge_templates() {
    for template in [
        "{x:9999}",
        "{x:1}",
        "{_}",
        "{x.y.z}",
        "{%41%42}",
        "{a.%41}",
        "{x,y,z}",
        "{x*,y:2,z}",
        "'{x}'",
        "https://example.com/~user/{x}!$&()*+,;=:@[]",
        "\u{A0}\u{10000}\u{10FFFD}{x}",
    ] {
        let parsed = UriTemplate::parse(template).unwrap_or_else(|e| panic!("{template:?}: {e}"));
        assert_eq!(parsed.as_str(), template);
        assert_eq!(parsed.to_string(), template);
        let via_from_str: UriTemplate = template.parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(via_from_str.as_str(), template);
    }
    // Supplementary-plane non-characters and language tags are not literals.
    for template in ["\u{1FFFE}{x}", "\u{E0001}{x}"] {
        assert!(UriTemplate::parse(template).is_err(), "{template:?}");
    }
}

#[test]
fn looks_like_template_checks_for_brace() {
    assert!(looks_like_template("https://example.com/{id}"));
    assert!(looks_like_template("{"));
    assert!(!looks_like_template("https://example.com/1"));
    assert!(!looks_like_template("*"));
}

#[test]
fn limits() {
    let long = format!("{{x}}{}", "a".repeat(MAX_TEMPLATE_LEN));
    assert!(matches!(
        UriTemplate::parse(&long),
        Err(TemplateError::TooLong { .. })
    ));
    let exactly = format!("{{x}}{}", "a".repeat(MAX_TEMPLATE_LEN - 3));
    assert!(UriTemplate::parse(&exactly).is_ok());

    // Hostile but valid templates either compile within the size limit or
    // are rejected; they never panic.
    let mut many_prefixes = String::new();
    while many_prefixes.len() + 8 <= MAX_TEMPLATE_LEN {
        many_prefixes.push_str("{+x:64}");
    }
    match UriTemplate::parse(&many_prefixes) {
        Ok(t) => assert!(t.is_match("")),
        Err(err) => assert!(matches!(err, TemplateError::TooComplex { .. }), "{err}"),
    }
    let mut many_vars = String::from("{?");
    while many_vars.len() + 3 < MAX_TEMPLATE_LEN {
        many_vars.push_str("ab,");
    }
    many_vars.push_str("c}");
    match UriTemplate::parse(&many_vars) {
        Ok(t) => {
            assert!(t.is_match("?ab=1&c=2"));
            assert!(!t.is_match("?c=2&ab=1"));
        }
        Err(err) => assert!(matches!(err, TemplateError::TooComplex { .. }), "{err}"),
    }

    // Matching a long topic stays fast (linear time).
    let t = UriTemplate::parse("{x,y,z}{/a*}{?b,c}").unwrap_or_else(|e| panic!("{e}"));
    let topic = "a,".repeat(200_000) + "%";
    let start = std::time::Instant::now();
    assert!(!t.is_match(&topic));
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
}

// ---------------------------------------------------------------------
// Round trip: expansions of a template always match it.
// ---------------------------------------------------------------------

/// A variable's value (RFC 6570 §2.3). Empty lists and associative arrays
/// count as undefined.
#[derive(Debug, Clone)]
enum Value {
    Str(String),
    List(Vec<String>),
    Assoc(Vec<(String, String)>),
}

fn is_unreserved(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')
}

fn is_reserved(c: char) -> bool {
    ":/?#[]@!$&'()*+,;=".contains(c)
}

/// Pct-encodes `value` except the allowed set; with `allow_reserved`,
/// existing pct-encoded triplets pass through (RFC 6570 §3.2.3).
fn encode(value: &str, allow_reserved: bool) -> String {
    let mut out = String::new();
    let chars: Vec<char> = value.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let triplet = c == '%'
            && chars.get(i + 1).is_some_and(char::is_ascii_hexdigit)
            && chars.get(i + 2).is_some_and(char::is_ascii_hexdigit);
        if is_unreserved(c) || (allow_reserved && is_reserved(c)) {
            out.push(c);
        } else if allow_reserved && triplet {
            out.extend(&chars[i..i + 3]);
            i += 3;
            continue;
        } else {
            let mut buf = [0; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        i += 1;
    }
    out
}

/// RFC 6570 appendix A expansion of one expression.
fn expand_expression(expr: &Expression<'_>, values: &dyn Fn(&str) -> Option<Value>) -> String {
    let op = expr.op;
    let r = op.allows_reserved();
    let sep = op.sep().to_string();
    let ifemp = if op.equals_if_empty() { "=" } else { "" };
    let mut out = String::new();
    let mut first = true;
    for var in &expr.vars {
        let value = match values(var.name) {
            None => continue,
            Some(Value::List(l)) if l.is_empty() => continue,
            Some(Value::Assoc(a)) if a.is_empty() => continue,
            Some(v) => v,
        };
        out.push_str(if first { op.first() } else { &sep });
        first = false;
        match (value, var.modifier) {
            (Value::Str(s), modifier) => {
                if op.named() {
                    out.push_str(var.name);
                    if s.is_empty() {
                        out.push_str(ifemp);
                        continue;
                    }
                    out.push('=');
                }
                let s: String = match modifier {
                    Modifier::Prefix(n) => s.chars().take(usize::from(n)).collect(),
                    _ => s,
                };
                out.push_str(&encode(&s, r));
            }
            (Value::List(items), Modifier::Explode) => {
                let parts: Vec<String> = items
                    .iter()
                    .map(|v| match (op.named(), v.is_empty()) {
                        (true, true) => format!("{}{ifemp}", var.name),
                        (true, false) => format!("{}={}", var.name, encode(v, r)),
                        (false, _) => encode(v, r),
                    })
                    .collect();
                out.push_str(&parts.join(&sep));
            }
            (Value::Assoc(pairs), Modifier::Explode) => {
                let parts: Vec<String> = pairs
                    .iter()
                    .map(|(k, v)| match (op.named(), v.is_empty()) {
                        (true, true) => format!("{}{ifemp}", encode(k, r)),
                        _ => format!("{}={}", encode(k, r), encode(v, r)),
                    })
                    .collect();
                out.push_str(&parts.join(&sep));
            }
            (composite, _) => {
                if op.named() {
                    out.push_str(var.name);
                    out.push('=');
                }
                let parts: Vec<String> = match composite {
                    Value::List(l) => l.iter().map(|v| encode(v, r)).collect(),
                    Value::Assoc(a) => a
                        .iter()
                        .flat_map(|(k, v)| [encode(k, r), encode(v, r)])
                        .collect(),
                    Value::Str(_) => unreachable!(),
                };
                out.push_str(&parts.join(","));
            }
        }
    }
    out
}

fn expand(template: &str, values: &dyn Fn(&str) -> Option<Value>) -> String {
    let parts = parse_parts(template).unwrap_or_else(|e| panic!("{template:?}: {e}"));
    parts
        .iter()
        .map(|part| match part {
            Part::Literal(text) => (*text).to_owned(),
            Part::Expression(expr) => expand_expression(expr, values),
        })
        .collect()
}

#[test]
fn expander_matches_rfc_examples() {
    // A sample of RFC 6570 §3.2 examples, to trust the test expander.
    let values = |name: &str| -> Option<Value> {
        let s = |v: &str| Some(Value::Str(v.to_owned()));
        match name {
            "var" => s("value"),
            "hello" => s("Hello World!"),
            "path" => s("/foo/bar"),
            "empty" => s(""),
            "x" => s("1024"),
            "y" => s("768"),
            "list" => Some(Value::List(vec![
                "red".into(),
                "green".into(),
                "blue".into(),
            ])),
            "keys" => Some(Value::Assoc(vec![
                ("semi".into(), ";".into()),
                ("dot".into(), ".".into()),
                ("comma".into(), ",".into()),
            ])),
            _ => None,
        }
    };
    for (template, expected) in [
        ("{var}", "value"),
        ("{hello}", "Hello%20World%21"),
        ("{+path}/here", "/foo/bar/here"),
        ("{#hello}", "#Hello%20World!"),
        ("{var:3}", "val"),
        ("{list}", "red,green,blue"),
        ("{list*}", "red,green,blue"),
        ("{keys}", "semi,%3B,dot,.,comma,%2C"),
        ("{keys*}", "semi=%3B,dot=.,comma=%2C"),
        ("{+keys*}", "semi=;,dot=.,comma=,"),
        ("X{.list*}", "X.red.green.blue"),
        ("{/var:1,var}", "/v/value"),
        ("{/keys*}", "/semi=%3B/dot=./comma=%2C"),
        ("{;x,y,empty}", ";x=1024;y=768;empty"),
        ("{;list*}", ";list=red;list=green;list=blue"),
        ("{?x,y,empty}", "?x=1024&y=768&empty="),
        ("{?keys*}", "?semi=%3B&dot=.&comma=%2C"),
        ("{&x,y,empty}", "&x=1024&y=768&empty="),
        ("{?undef}", ""),
        ("{x,undef,y}", "1024,768"),
    ] {
        let expansion = expand(template, &values);
        assert_eq!(expansion, expected, "{template}");
        assert!(
            matches(template, &expansion),
            "{template:?} vs {expansion:?}"
        );
    }
}

/// xorshift64*: deterministic, dependency-free pseudo-randomness.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

const OPS: [&str; 8] = ["", "+", "#", ".", "/", ";", "?", "&"];
/// Names used without prefix modifiers; their values may be composite.
const NAMES: [&str; 5] = ["a", "b", "c", "d.e", "f%41"];
/// Names used with prefix modifiers; their values are strings only, since
/// RFC 6570 leaves prefixes of composite values undefined.
const PREFIX_NAMES: [&str; 2] = ["p", "q"];
const LITERALS: [&str; 12] = [
    "https://example.com/",
    "a",
    "/",
    ".",
    "?",
    "x=1",
    "%20",
    "é",
    "(",
    "[]",
    "*",
    "$",
];
const VALUE_CHARS: [char; 24] = [
    'a', 'Z', '0', '9', '-', '.', '_', '~', ' ', '%', '4', 'f', '/', ':', '?', '#', ',', '=', '&',
    ';', '\'', 'é', '€', '😀',
];

fn random_template(rng: &mut Rng) -> String {
    let mut template = String::new();
    for _ in 0..rng.below(5) + 1 {
        if rng.below(3) == 0 {
            template.push_str(rng.pick(&LITERALS));
            continue;
        }
        template.push('{');
        template.push_str(rng.pick(&OPS));
        for i in 0..rng.below(4) + 1 {
            if i > 0 {
                template.push(',');
            }
            match rng.below(4) {
                0 => {
                    template.push_str(rng.pick(&PREFIX_NAMES));
                    let n = rng.pick(&[1, 2, 3, 5, 10, 300]);
                    template.push_str(&format!(":{n}"));
                }
                1 => {
                    template.push_str(rng.pick(&NAMES));
                    template.push('*');
                }
                _ => template.push_str(rng.pick(&NAMES)),
            }
        }
        template.push('}');
    }
    template
}

fn random_string(rng: &mut Rng) -> String {
    (0..rng.below(7)).map(|_| rng.pick(&VALUE_CHARS)).collect()
}

fn random_value(rng: &mut Rng, composite: bool) -> Option<Value> {
    match rng.below(if composite { 5 } else { 3 }) {
        0 => None,
        1 => Some(Value::Str(String::new())),
        2 => Some(Value::Str(random_string(rng))),
        3 => Some(Value::List(
            (0..rng.below(4)).map(|_| random_string(rng)).collect(),
        )),
        _ => Some(Value::Assoc(
            (0..rng.below(4))
                .map(|_| (random_string(rng), random_string(rng)))
                .collect(),
        )),
    }
}

#[test]
fn expansions_match_their_template() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..3000 {
        let template = random_template(&mut rng);
        let compiled =
            UriTemplate::parse(&template).unwrap_or_else(|e| panic!("{template:?}: {e}"));
        for _ in 0..20 {
            let mut assignment: Vec<(&str, Option<Value>)> = Vec::new();
            for name in NAMES {
                assignment.push((name, random_value(&mut rng, true)));
            }
            for name in PREFIX_NAMES {
                assignment.push((name, random_value(&mut rng, false)));
            }
            let lookup = |name: &str| {
                assignment
                    .iter()
                    .find(|(n, _)| *n == name)
                    .and_then(|(_, v)| v.clone())
            };
            let expansion = expand(&template, &lookup);
            assert!(
                compiled.is_match(&expansion),
                "{template:?} should match its expansion {expansion:?} of {assignment:?}"
            );
        }
    }
}

#[test]
fn mutated_expansions_mostly_do_not_match() {
    // Sanity check that the matcher is not trivially permissive: appending a
    // raw space (never part of an expansion nor of the literals used here)
    // must never match.
    let mut rng = Rng(42);
    for _ in 0..500 {
        let template = random_template(&mut rng);
        let compiled =
            UriTemplate::parse(&template).unwrap_or_else(|e| panic!("{template:?}: {e}"));
        let assignment: Vec<Option<Value>> = (0..NAMES.len())
            .map(|_| random_value(&mut rng, false))
            .collect();
        let lookup = |name: &str| {
            NAMES
                .iter()
                .position(|n| *n == name)
                .and_then(|i| assignment[i].clone())
        };
        let expansion = expand(&template, &lookup);
        assert!(!compiled.is_match(&format!("{expansion} ")), "{template:?}");
        assert!(!compiled.is_match(&format!(" {expansion}")), "{template:?}");
    }
}
